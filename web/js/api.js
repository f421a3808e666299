// REST client and session handling for the console pages.
//
// Tokens live in memory and in sessionStorage (so a reload or the step from
// the login page to the app keeps the session in this tab only); never in
// localStorage, cookies or URLs.

const STORAGE_KEY = 'healthbridge.session';
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

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

function storage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled: the session lasts as long as the page
  }
}

export function loadStoredSession() {
  try {
    const raw = storage()?.getItem(STORAGE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (typeof s?.access_token !== 'string' || typeof s?.refresh_token !== 'string') return null;
    return s;
  } catch {
    return null;
  }
}

function storeSession(s) {
  try {
    if (s) storage()?.setItem(STORAGE_KEY, JSON.stringify(s));
    else storage()?.removeItem(STORAGE_KEY);
  } catch {
    /* storage full or disabled: keep it in memory only */
  }
}

/** Turns a token pair from login/refresh into the stored session shape. */
function fromPair(pair, now = Date.now()) {
  return {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    session_id: pair.session_id,
    expires_at: now + Number(pair.expires_in ?? 900) * 1000,
  };
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

async function rawFetch(path, { method = 'GET', body, token, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The hub could not be reached. Check your connection.');
  }
  return parseResponse(resp);
}

/**
 * Logs in. `code` is a TOTP code (6 digits) or a recovery code; send it only
 * after the server answered `mfa_required`.
 */
export async function login(email, password, code) {
  const body = { email, password };
  const c = (code ?? '').trim();
  if (c) {
    if (/^\d{6}$/.test(c.replace(/\s/g, ''))) body.totp_code = c.replace(/\s/g, '');
    else body.recovery_code = c;
  }
  const pair = await rawFetch('/api/v1/auth/login', { method: 'POST', body });
  const session = fromPair(pair);
  storeSession(session);
  return session;
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
  constructor(stored) {
    super();
    this.s = stored;
    this.refreshing = null;
    this.timer = null;
    this.ended = false;
    this.schedule();
  }

  /** The session stored in this tab, or null when signed out. */
  static resume() {
    const stored = loadStoredSession();
    return stored ? new Session(stored) : null;
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

  /** Exchanges the refresh token for a new pair; concurrent callers share one exchange. */
  refresh() {
    if (this.refreshing) return this.refreshing;
    const used = this.s.refresh_token;
    this.refreshing = (async () => {
      try {
        // Another page of this tab (after a reload) may have refreshed already.
        const stored = loadStoredSession();
        if (stored && stored.refresh_token !== used && stored.expires_at > Date.now() + 5_000) {
          this.s = stored;
        } else {
          const pair = await rawFetch('/api/v1/auth/refresh', {
            method: 'POST',
            body: { refresh_token: used },
          });
          this.s = fromPair(pair);
          storeSession(this.s);
        }
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

  /** Authorized JSON request; on `token_expired` refreshes once and retries. */
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
        this.end('unauthenticated');
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

  /** Signs out on the server (best effort) and forgets the tokens. */
  async logout() {
    if (this.ended) return;
    try {
      await rawFetch('/api/v1/auth/logout', { method: 'POST', token: this.s.access_token });
    } catch {
      /* the session is forgotten here either way */
    }
    this.end('logout');
  }

  /** Forgets the session in this tab and tells listeners. */
  end(reason) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    storeSession(null);
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
