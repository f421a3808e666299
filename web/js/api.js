// REST client and session handling for every signed-in page.
//
// The refresh token lives in an HttpOnly cookie (`hb_refresh`, Secure,
// SameSite=Strict, sent only to /api/v1/auth): no script can read it. The
// access token lives in this page's memory only — never in localStorage,
// sessionStorage or URLs — so each page load gets a fresh one from the cookie
// (`Session.resume()`). One browser is signed in once for all its tabs:
// they share the cookie, a Web Lock lets one tab at a time exchange it (two
// tabs presenting the same single-use token at once would look like theft and
// end the session), and a BroadcastChannel tells the other tabs when this one
// signs in or out. docs/api.md "Browser sessions" says why.

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
/** The Web Lock that serializes cookie refreshes across this browser's tabs. */
const REFRESH_LOCK = 'healthbridge.refresh';
/** Tabs tell each other `{type: 'signed-in' | 'signed-out'}` here. */
const CHANNEL = 'healthbridge.session';

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

/** Turns a token pair from login/refresh into the in-memory session shape. */
function fromPair(pair, now = Date.now()) {
  return {
    access_token: pair.access_token,
    session_id: pair.session_id,
    expires_at: now + Number(pair.expires_in ?? 900) * 1000,
  };
}

/**
 * Names this page in its messages: a page hears its own posts on its other
 * channel objects, and must not act on them (a sign-in page that "follows"
 * its own sign-in would refresh while it navigates away).
 */
const PAGE_ID = Math.random().toString(36).slice(2) + Date.now().toString(36);

/** Tells the other tabs of this browser (best effort: old browsers have no channel). */
function tellOtherTabs(type) {
  try {
    const channel = new BroadcastChannel(CHANNEL);
    channel.postMessage({ type, from: PAGE_ID });
    channel.close();
  } catch {
    /* no BroadcastChannel: other tabs notice at their next request */
  }
}

/** Calls `fn` holding the browser-wide refresh lock (or directly without Web Locks). */
function withRefreshLock(fn) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(REFRESH_LOCK, fn) : fn();
}

/**
 * Exchanges the cookie for a new token pair, one tab at a time. Returns null
 * when this browser has no session (the hub answers 204).
 */
function refreshThroughCookie() {
  return withRefreshLock(() => rawFetch('/api/v1/auth/refresh', { method: 'POST', cookie: true }));
}

async function parseResponse(resp) {
  const text = await resp.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!resp.ok) {
    const err = body?.error ?? {};
    const retry = Number(resp.headers.get('Retry-After'));
    throw new ApiError(
      resp.status,
      err.code ?? `http_${resp.status}`,
      err.message ?? `The server answered ${resp.status}.`,
      err.field,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }
  return body;
}

/**
 * One JSON request. `cookie` marks the auth calls that send, receive or clear
 * the refresh cookie; every other call goes without cookies. Those calls are
 * `keepalive`, so a page closed or reloaded mid-refresh still stores the
 * rotated cookie instead of losing it (the old one no longer works).
 */
async function rawFetch(path, { method = 'GET', body, token, signal, cookie = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  if (cookie) headers['X-Session-Cookie'] = '1';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: cookie ? 'same-origin' : 'omit',
      cache: 'no-store',
      keepalive: cookie,
      signal,
    });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The hub could not be reached. Check your connection.');
  }
  return parseResponse(resp);
}

/**
 * Signs in and returns the new `Session`. `code` is a TOTP code (6 digits) or
 * a recovery code; send it only after the server answered `mfa_required`.
 * The refresh token arrives as the cookie; the other tabs are told.
 */
export async function login(email, password, code) {
  const body = { email, password };
  const c = (code ?? '').trim();
  if (c) {
    if (/^\d{6}$/.test(c.replace(/\s/g, ''))) body.totp_code = c.replace(/\s/g, '');
    else body.recovery_code = c;
  }
  const pair = await withRefreshLock(() =>
    rawFetch('/api/v1/auth/login', { method: 'POST', body, cookie: true }),
  );
  tellOtherTabs('signed-in');
  return new Session(fromPair(pair));
}

/**
 * Calls `onChange(type)` when another tab of this browser signs in or out
 * (`'signed-in'`, `'signed-out'`). The sign-in page uses it to follow a
 * sign-in made elsewhere.
 */
export function onOtherTabs(onChange) {
  try {
    const channel = new BroadcastChannel(CHANNEL);
    channel.addEventListener('message', (e) => {
      if (e.data?.from !== PAGE_ID) onChange(e.data?.type);
    });
    return channel;
  } catch {
    return null;
  }
}

/**
 * Exchanges a visit link's token (from the `#t=` fragment) for a visit pass:
 * `{pass, expires_at, visit_id, participant_id, role, display_name,
 * scheduled_at}` (docs/visits.md). No account is needed.
 */
export function redeemVisitLink(token) {
  return rawFetch('/api/v1/visit-links/redeem', { method: 'POST', body: { token } });
}

/**
 * A signed-in session: authorized REST calls, proactive token refresh (one at
 * a time), and listeners told about every new access token (the live socket
 * forwards it with a `refresh` frame).
 */
export class Session extends EventTarget {
  constructor(tokens) {
    super();
    this.s = tokens;
    this.refreshing = null;
    this.timer = null;
    this.ended = false;
    this.schedule();
    // Signing out in another tab signs this one out too (same cookie, same
    // server session).
    this.channel = onOtherTabs((type) => {
      if (type === 'signed-out') this.end('logout');
    });
    // For the end-to-end tests, as the visit pages' `__hbVisit`: it holds
    // nothing a script on this page could not get from the refresh endpoint.
    globalThis.__hbSession = this;
  }

  /**
   * This browser's session: a fresh access token from the refresh cookie, or
   * null when nobody is signed in here. Always `await` it.
   */
  static async resume() {
    try {
      const pair = await refreshThroughCookie();
      return pair ? new Session(fromPair(pair)) : null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return null; // the cookie's session ended
      throw e;
    }
  }

  get expiresAt() {
    return this.s.expires_at;
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.ended) return;
    const wait = Math.max(0, this.s.expires_at - Date.now() - REFRESH_MARGIN_MS);
    // setTimeout clamps above ~24.8 days; access tokens are minutes long.
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {
        /* 'ended' was dispatched if it cannot be recovered */
      });
    }, Math.min(wait, 2 ** 31 - 1));
  }

  /** A valid access token; with force (or near expiry), refresh first. */
  async accessToken({ force = false } = {}) {
    if (this.ended) throw new ApiError(401, 'unauthenticated', 'You are signed out.');
    if (force || Date.now() >= this.s.expires_at - 5_000) {
      await this.refresh();
    }
    return this.s.access_token;
  }

  /** Exchanges the refresh cookie for a new pair; concurrent callers share one exchange. */
  refresh() {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      try {
        const pair = await refreshThroughCookie();
        if (!pair) throw new ApiError(401, 'unauthenticated', 'You are signed out.');
        this.s = fromPair(pair);
        this.schedule();
        this.dispatchEvent(new CustomEvent('token', { detail: { access_token: this.s.access_token } }));
        return this.s.access_token;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) {
          this.end('expired');
        } else {
          // Network trouble: try again shortly, the token may still be valid.
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.refresh().catch(() => {}), 10_000);
        }
        throw e;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /**
   * Authorized JSON request; on `token_expired` refreshes once and retries.
   * Only `unauthenticated` (the session was ended) signs this page out: a
   * wrong password or code (`invalid_credentials`, `invalid_mfa_code`) is an
   * answer for the form that sent it.
   */
  async call(path, opts = {}) {
    const token = await this.accessToken();
    try {
      return await rawFetch(path, { ...opts, token });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        if (e.code === 'token_expired') {
          const fresh = await this.accessToken({ force: true });
          return rawFetch(path, { ...opts, token: fresh });
        }
        if (e.code === 'unauthenticated') this.end('unauthenticated');
      }
      throw e;
    }
  }

  get(path, opts) {
    return this.call(path, { ...opts, method: 'GET' });
  }

  post(path, body, opts) {
    return this.call(path, { ...opts, method: 'POST', body });
  }

  put(path, body, opts) {
    return this.call(path, { ...opts, method: 'PUT', body });
  }

  patch(path, body, opts) {
    return this.call(path, { ...opts, method: 'PATCH', body });
  }

  del(path, opts) {
    return this.call(path, { ...opts, method: 'DELETE' });
  }

  /** Signs this browser out on the server (best effort), clears the cookie and tells the other tabs. */
  async logout() {
    if (this.ended) return;
    try {
      const token = await this.accessToken();
      await rawFetch('/api/v1/auth/logout', { method: 'POST', token, cookie: true });
    } catch {
      /* the session is forgotten here either way */
    }
    tellOtherTabs('signed-out');
    this.end('logout');
  }

  /** Ends every session of the account, on every device; this browser signs out too. */
  async logoutEverywhere() {
    const token = await this.accessToken();
    await rawFetch('/api/v1/auth/logout-everywhere', { method: 'POST', token, cookie: true });
    tellOtherTabs('signed-out');
    this.end('logout');
  }

  /** Forgets the session in this page and tells listeners. */
  end(reason) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.channel?.close();
    if (globalThis.__hbSession === this) globalThis.__hbSession = null;
    this.dispatchEvent(new CustomEvent('ended', { detail: { reason } }));
  }

  // ---- typed helpers for the endpoints the console uses ---------------

  me() {
    return this.get('/api/v1/me');
  }

  rooms() {
    return this.get('/api/v1/rooms');
  }

  room(roomId) {
    return this.get(`/api/v1/rooms/${encodeURIComponent(roomId)}`);
  }

  // ---- video visits (docs/visits.md) ----

  /** Visits I host or attend, 12 h back to 24 h ahead (or `from`/`to`, RFC 3339). */
  visits({ from, to } = {}) {
    const q = new URLSearchParams();
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    const query = q.toString();
    return this.get(`/api/v1/visits${query ? `?${query}` : ''}`);
  }

  visit(visitId) {
    return this.get(`/api/v1/visits/${encodeURIComponent(visitId)}`);
  }

  /** Invites a guest (an interpreter, a family member): `{participant_id, link: {url, expires_at}}`. */
  inviteToVisit(visitId, displayName) {
    return this.post(`/api/v1/visits/${encodeURIComponent(visitId)}/invites`, {
      display_name: displayName,
      role: 'guest',
    });
  }

  /** A new link for a participant (earlier ones are revoked): `{url, expires_at}`. */
  newVisitLink(visitId, participantId) {
    return this.post(`/api/v1/visits/${encodeURIComponent(visitId)}/links`, { participant_id: participantId });
  }

  /** History, newest first; `before` is an offset (exclusive). */
  messages(roomId, { before, limit = 50 } = {}) {
    const q = new URLSearchParams();
    if (before != null) q.set('before', String(before));
    q.set('limit', String(limit));
    return this.get(`/api/v1/rooms/${encodeURIComponent(roomId)}/messages?${q}`);
  }
}
