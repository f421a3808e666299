// HealthBridge live protocol v1 client (docs/protocol.md).
//
// Reusable by every page: it knows nothing about the DOM. It authenticates,
// correlates requests with replies by id, keeps (epoch, offset) per room,
// de-duplicates events by offset, recovers missed events with `since` after a
// reconnect (exponential backoff with jitter), re-sends unacknowledged
// publishes with their client_id (the server makes them idempotent) and keeps
// the presence set of each room.
//
// Events dispatched (all CustomEvent, data in `detail`):
//   state     {state, attempt?, delay?, code?}  state is one of
//             idle | connecting | open | reconnecting | closed
//   open      the auth reply's result (user_id, token_expires_at, limits, …)
//   reset     {room, epoch, offset, reason}   the page must (re)load history:
//             first subscribe, recovered:false, resync or an epoch change.
//             Messages up to `offset` come from REST; live events follow.
//   event     one applied stream event (kind message | edit | delete)
//   presence  {room, users: [user ids]}       the full current set
//   typing    {room, user_id}
//   receipt   {room, user_id, offset}
//   removed   {room, reason}                  the server ended the subscription
//             (the user was removed from the room); the room is forgotten
//   authfailed {code}                          4001/4003: log in again
//   protocolerror {error}                      an error frame with id null
//   visit     a `visit_*` push (docs/visits.md), the whole frame: visit_event,
//             visit_admitted, visit_signal, visit_media, visit_stats
//   monitor   a live monitor snapshot (the whole `monitor` push), after `monitor()`
//   monitorended {reason}                       the server ended the watch (the
//             admin right was taken away); it is not asked for again
//   monitorerror {error}                        the watch asked for on (re)connect
//             was refused (LiveError)
//
// The token from `getToken` may be an account's access token or a visit pass
// (POST /api/v1/visit-links/redeem): the auth reply then carries `visit_id`,
// `participant_id` and `role`, and the socket may send only `visit_*`
// requests (`request('visit_join', {visit})`), `refresh` and `ping`.

export const PROTOCOL = 'healthbridge.v1';

const AUTH_FAILED = new Set([4001, 4003]);
const CLIENT_ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export class LiveError extends Error {
  constructor(code, message, details) {
    super(message || code);
    this.name = 'LiveError';
    this.code = code;
    /** The whole `error` object of the frame (extra fields such as `allowed_at`). */
    this.details = details ?? null;
  }
}

/** The same-origin WebSocket URL of the hub's gateway. */
export function defaultUrl(loc = globalThis.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

/** A fresh client_id for `publish` (random, allowed characters only). */
export function newClientId() {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Backoff before reconnect attempt `attempt` (0-based): 0.5 s, 1 s, 2 s … 15 s, jittered. */
export function backoffDelay(attempt, { initial = 500, max = 15000, random = Math.random } = {}) {
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  // "Equal jitter": between half and all of the base delay.
  return Math.round(base / 2 + random() * (base / 2));
}

export class LiveClient extends EventTarget {
  /**
   * @param {object} opts
   * @param {(o: {force: boolean}) => Promise<string>} opts.getToken  a valid
   *   access token; with force, refresh it first (after a 4002 or a 4001).
   * @param {string} [opts.url]  defaults to same-origin /ws
   * @param {typeof WebSocket} [opts.WebSocket]
   * @param {number} [opts.requestTimeoutMs]  per request, default 15 s
   * @param {number} [opts.pingIntervalMs]  app-level ping when quiet, default 30 s
   */
  constructor(opts) {
    super();
    this.url = opts.url ?? defaultUrl();
    this.getToken = opts.getToken;
    this.WebSocket = opts.WebSocket ?? globalThis.WebSocket;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15000;
    this.pingIntervalMs = opts.pingIntervalMs ?? 30000;
    this.backoff = opts.backoff ?? {};
    this.state = 'idle';
    this.session = null; // the auth reply's result
    this.ws = null;
    this.nextId = 1;
    this.inflight = new Map(); // id -> {resolve, reject, timer, type}
    this.rooms = new Map(); // room id -> RoomState
    this.outbox = new Map(); // client_id -> {room, body, resolve, reject, sending}
    this.attempt = 0;
    this.authRejections = 0;
    this.stopped = true;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.lastSent = 0;
    this.openWaiters = [];
    /** Whether to ask for the user's personal events (notices) on every connect. */
    this.userEvents = false;
    /** The live monitor watched, `{org}` (org null: everything), asked again on every connect. */
    this.monitorScope = null;
    this.onOnline = () => {
      if (this.state === 'reconnecting') this.#reconnectNow();
    };
  }

  // ---- lifecycle -------------------------------------------------------

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    globalThis.addEventListener?.('online', this.onOnline);
    this.#connect();
  }

  /** Closes for good (logout, page leaving). Pending requests are rejected. */
  stop() {
    this.stopped = true;
    globalThis.removeEventListener?.('online', this.onOnline);
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, 'bye');
      } catch {
        /* already closed */
      }
    }
    this.#failInflight('stopped');
    for (const [id, item] of this.outbox) {
      item.reject(new LiveError('stopped', 'The connection was closed.'));
      this.outbox.delete(id);
    }
    for (const w of this.openWaiters.splice(0)) w.reject(new LiveError('stopped', 'The connection was closed.'));
    this.#setState('closed');
  }

  #setState(state, extra = {}) {
    this.state = state;
    this.#emit('state', { state, ...extra });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #connect() {
    if (this.stopped) return;
    this.#setState('connecting', { attempt: this.attempt });
    let ws;
    try {
      ws = new this.WebSocket(this.url, PROTOCOL);
    } catch (e) {
      this.#scheduleReconnect(0);
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.#authenticate(ws);
    ws.onmessage = (m) => this.#onFrame(ws, m.data);
    ws.onerror = () => {
      /* a close event follows */
    };
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
  }

  async #authenticate(ws) {
    let token;
    try {
      token = await this.getToken({ force: this.authRejections > 0 });
    } catch (e) {
      // Could not obtain a token at all (refresh token rejected): log in again.
      this.stop();
      this.#emit('authfailed', { code: 4001, error: e });
      return;
    }
    if (ws !== this.ws) return;
    let result;
    try {
      result = await this.#send(ws, { type: 'auth', token });
    } catch (e) {
      return; // the server closes with 4001; onclose decides what to do
    }
    if (ws !== this.ws) return;
    this.session = result;
    this.attempt = 0;
    this.authRejections = 0;
    this.#setState('open');
    this.#emit('open', result);
    this.#startPing(ws);
    for (const w of this.openWaiters.splice(0)) w.resolve();
    if (this.userEvents) this.#send(ws, { type: 'notifications' }).catch(() => {});
    if (this.monitorScope) {
      this.#send(ws, { type: 'monitor', ...monitorFields(this.monitorScope.org) }).catch((error) => {
        if (error.code !== 'disconnected' && error.code !== 'stopped') this.#emit('monitorerror', { error });
      });
    }
    // Re-subscribe every room with `since`, then re-send what was not acknowledged.
    await Promise.all(
      [...this.rooms.keys()].map((room) => this.#subscribe(room).catch(() => {})),
    );
    if (ws !== this.ws) return;
    this.#flushOutbox();
  }

  /** Sends the queued publishes (of one room, or all) that are not in flight. */
  #flushOutbox(room) {
    for (const [clientId, item] of this.outbox) {
      if (item.sending || (room !== undefined && item.room !== room)) continue;
      if (this.rooms.get(item.room)?.subscribed) this.#sendPublish(clientId, item);
    }
  }

  #onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    this.#failInflight('disconnected');
    for (const item of this.outbox.values()) item.sending = false;
    for (const state of this.rooms.values()) {
      state.subscribed = false;
      state.pending = null;
      state.buffer = [];
      state.presence.clear();
    }
    if (this.stopped) return;
    if (AUTH_FAILED.has(code)) {
      // A 4001 right after connecting can be an access token that expired in
      // between: refresh once and try again; a second one means log in again.
      if (code === 4001 && this.authRejections === 0) {
        this.authRejections = 1;
        this.#scheduleReconnect(0, code);
        return;
      }
      this.stop();
      this.#emit('authfailed', { code, reason });
      return;
    }
    if (code === 4002) this.authRejections = 1; // expired: force a refresh
    const delay = backoffDelay(this.attempt, this.backoff);
    this.attempt += 1;
    this.#scheduleReconnect(delay, code);
  }

  #scheduleReconnect(delay, code) {
    clearTimeout(this.reconnectTimer);
    this.#setState('reconnecting', { attempt: this.attempt, delay, code });
    this.reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #reconnectNow() {
    clearTimeout(this.reconnectTimer);
    this.#connect();
  }

  /** Drops the current socket and reconnects with `since` (used on a gap). */
  #forceReconnect(reason) {
    const ws = this.ws;
    if (!ws) return;
    try {
      ws.close(4000, reason.slice(0, 100));
    } catch {
      /* ignore */
    }
    // Do not wait for the close handshake.
    this.#onClose(ws, 4000, reason);
  }

  #startPing(ws) {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (ws !== this.ws || this.state !== 'open') return;
      if (Date.now() - this.lastSent < this.pingIntervalMs) return;
      this.request('ping').catch((e) => {
        // A socket that does not answer a ping in time is dead: reconnect.
        if (e.code === 'timeout' && ws === this.ws) this.#forceReconnect('ping timeout');
      });
    }, Math.max(1000, Math.floor(this.pingIntervalMs / 3)));
  }

  #failInflight(code) {
    for (const [id, req] of this.inflight) {
      clearTimeout(req.timer);
      req.reject(new LiveError(code, code === 'disconnected' ? 'The connection was lost.' : 'The connection was closed.'));
      this.inflight.delete(id);
    }
  }

  // ---- requests --------------------------------------------------------

  #send(ws, frame) {
    const id = this.nextId++;
    const payload = JSON.stringify({ id, ...frame });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.inflight.delete(id);
        reject(new LiveError('timeout', `No answer to ${frame.type} in time.`));
      }, this.requestTimeoutMs);
      this.inflight.set(id, { resolve, reject, timer, type: frame.type });
      try {
        ws.send(payload);
        this.lastSent = Date.now();
      } catch (e) {
        clearTimeout(timer);
        this.inflight.delete(id);
        reject(new LiveError('disconnected', 'The connection was lost.'));
      }
    });
  }

  /** Resolves when the socket is open and authenticated. */
  whenOpen() {
    if (this.state === 'open') return Promise.resolve();
    if (this.stopped) return Promise.reject(new LiveError('stopped', 'The connection was closed.'));
    return new Promise((resolve, reject) => this.openWaiters.push({ resolve, reject }));
  }

  /** Sends one request on the open socket; resolves with `result`, rejects with LiveError. */
  async request(type, fields = {}) {
    if (this.state !== 'open' || !this.ws) {
      throw new LiveError('disconnected', 'Not connected.');
    }
    return this.#send(this.ws, { type, ...fields });
  }

  // ---- rooms -----------------------------------------------------------

  /**
   * Starts following a room. The room stays followed across reconnects until
   * `unsubscribe`. Resolves with the subscribe result once subscribed.
   */
  async subscribe(room) {
    if (!this.rooms.has(room)) this.rooms.set(room, newRoomState());
    if (this.state !== 'open') {
      await this.whenOpen();
      const state = this.rooms.get(room);
      if (state?.subscribed) return state.lastResult;
      if (state?.pending) return state.pending;
    }
    return this.#subscribe(room);
  }

  async unsubscribe(room) {
    const state = this.rooms.get(room);
    this.rooms.delete(room);
    if (state?.subscribed && this.state === 'open') {
      await this.request('unsubscribe', { room }).catch(() => {});
    }
  }

  /** The (epoch, offset) held for a room, or null before its first subscribe. */
  position(room) {
    const s = this.rooms.get(room);
    return s && s.epoch != null ? { epoch: s.epoch, offset: s.offset } : null;
  }

  presence(room) {
    return [...(this.rooms.get(room)?.presence ?? [])];
  }

  #subscribe(room, retried = false) {
    const state = this.rooms.get(room);
    if (!state) return Promise.reject(new LiveError('not_subscribed', 'Room not followed.'));
    if (state.pending) return state.pending;
    const fields = { room };
    if (state.epoch != null) fields.since = { epoch: state.epoch, offset: state.offset };
    state.buffer = [];
    const ws = this.ws;
    const pending = this.request('subscribe', fields)
      .then((result) => {
        if (ws !== this.ws || this.rooms.get(room) !== state) return result;
        state.pending = null;
        state.subscribed = true;
        state.lastResult = result;
        state.presence = new Set(result.presence ?? []);
        if (fields.since && result.recovered === true && result.epoch === state.epoch) {
          for (const ev of result.missed ?? []) this.#apply(state, ev);
          // The reply's offset is the position; anything past it is live.
          if (typeof result.offset === 'number' && result.offset > state.offset) {
            // Recovery said "everything after since" — if it did not reach
            // result.offset the server broke its promise: reload.
            this.#reset(state, room, result, 'incomplete_recovery');
          }
        } else {
          const reason =
            state.resetReason ?? (fields.since ? result.reason ?? 'not_recovered' : 'initial');
          this.#reset(state, room, result, reason);
        }
        state.resetReason = null;
        const buffered = state.buffer;
        state.buffer = [];
        for (const ev of buffered) this.#onEvent(state, ev);
        this.#emit('presence', { room, users: [...state.presence] });
        this.#flushOutbox(room);
        return result;
      })
      .catch(async (e) => {
        if (this.rooms.get(room) !== state) throw e;
        state.pending = null;
        // Our view and the server's disagree: drop the server's subscription and retry once.
        if (e.code === 'already_subscribed' && !retried && ws === this.ws) {
          await this.request('unsubscribe', { room }).catch(() => {});
          return this.#subscribe(room, true);
        }
        throw e;
      });
    state.pending = pending;
    return pending;
  }

  #reset(state, room, result, reason) {
    state.epoch = result.epoch;
    state.offset = result.offset;
    this.#emit('reset', { room, epoch: result.epoch, offset: result.offset, reason });
  }

  // ---- frames from the server ------------------------------------------

  #onFrame(ws, data) {
    if (ws !== this.ws) return;
    if (typeof data !== 'string') return; // text-only protocol
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    if (frame.type === 'reply' || frame.type === 'error') {
      if (frame.id == null) {
        this.#emit('protocolerror', { error: frame.error });
        return;
      }
      const req = this.inflight.get(frame.id);
      if (!req) return;
      this.inflight.delete(frame.id);
      clearTimeout(req.timer);
      if (frame.type === 'reply') req.resolve(frame.result ?? {});
      else req.reject(new LiveError(frame.error?.code ?? 'error', frame.error?.message, frame.error));
      return;
    }
    if (typeof frame.type === 'string' && frame.type.startsWith('visit_')) {
      // Video visit pushes (docs/visits.md): the visit page's session handles them.
      this.#emit('visit', frame);
      return;
    }
    if (frame.type === 'monitor') {
      // Live monitor snapshots (docs/protocol.md, `monitor`), every 2 s.
      this.#emit('monitor', frame);
      return;
    }
    if (frame.type === 'monitor_ended') {
      this.monitorScope = null;
      this.#emit('monitorended', { reason: frame.reason ?? 'access_ended' });
      return;
    }
    if (frame.type === 'user_event') {
      // Personal events (notices, appointment changes): live only; the list of
      // record is GET /api/v1/me/notifications.
      this.#emit('userevent', { kind: frame.kind, payload: frame.payload });
      return;
    }
    const state = frame.room != null ? this.rooms.get(frame.room) : undefined;
    if (!state) return;
    switch (frame.type) {
      case 'event':
        if (state.pending) state.buffer.push(frame);
        else if (state.subscribed) this.#onEvent(state, frame);
        break;
      case 'presence':
        if (frame.status === 'online') state.presence.add(frame.user_id);
        else if (frame.status === 'offline') state.presence.delete(frame.user_id);
        this.#emit('presence', { room: frame.room, users: [...state.presence] });
        break;
      case 'typing':
        this.#emit('typing', { room: frame.room, user_id: frame.user_id });
        break;
      case 'receipt':
        this.#emit('receipt', { room: frame.room, user_id: frame.user_id, offset: frame.offset });
        break;
      case 'resync':
        this.#resync(frame.room, frame.reason ?? 'resync');
        break;
      case 'unsubscribed':
        // Not in protocol.md v1 yet: the server drops a removed member's subscription.
        this.rooms.delete(frame.room);
        for (const [clientId, item] of this.outbox) {
          if (item.room === frame.room) {
            this.outbox.delete(clientId);
            item.reject(new LiveError('room_not_found', 'You are no longer a member of this room.'));
          }
        }
        this.#emit('removed', { room: frame.room, reason: frame.reason ?? 'removed' });
        break;
      default:
        break;
    }
  }

  #onEvent(state, ev) {
    if (state.epoch != null && ev.epoch != null && ev.epoch !== state.epoch) {
      this.#resync(ev.room, 'epoch_changed');
      return;
    }
    if (ev.offset <= state.offset) return; // duplicate
    if (ev.offset !== state.offset + 1) {
      // The server never skips on a live socket; if it did, recover with since.
      this.#forceReconnect('gap');
      return;
    }
    this.#apply(state, ev);
  }

  #apply(state, ev) {
    if (typeof ev.offset !== 'number' || ev.offset <= state.offset) return;
    state.offset = ev.offset;
    this.#emit('event', ev);
  }

  /** Forget the position, re-subscribe without since; the page reloads history. */
  async #resync(room, reason) {
    const state = this.rooms.get(room);
    if (!state || this.state !== 'open') return;
    state.epoch = null;
    state.offset = 0;
    state.subscribed = false;
    state.pending = null;
    state.resetReason = reason;
    this.#emit('resync', { room, reason });
    await this.request('unsubscribe', { room }).catch(() => {});
    if (this.rooms.get(room) !== state) return;
    this.#subscribe(room).catch(() => {});
  }

  // ---- room requests ---------------------------------------------------

  /**
   * Publishes a message. Unacknowledged publishes survive a reconnect and are
   * re-sent with the same client_id. Resolves with `{duplicate, event}`.
   */
  publish(room, body, clientId = newClientId()) {
    if (!CLIENT_ID_RE.test(clientId)) throw new LiveError('invalid_client_id', 'Bad client id.');
    const existing = this.outbox.get(clientId);
    if (existing) return existing.promise;
    let resolve, reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const item = { room, body, resolve, reject, sending: false, promise };
    this.outbox.set(clientId, item);
    const state = this.rooms.get(room);
    if (this.state === 'open' && state?.subscribed) this.#sendPublish(clientId, item);
    return promise;
  }

  #sendPublish(clientId, item) {
    if (this.state !== 'open') return;
    item.sending = true;
    this.request('publish', { room: item.room, client_id: clientId, body: item.body })
      .then((result) => {
        this.outbox.delete(clientId);
        const state = this.rooms.get(item.room);
        // Apply the stored event now if it is next in line; otherwise its push
        // (or the recovery after a reconnect) brings it in order.
        if (state && result?.event && result.event.offset === state.offset + 1 && !state.pending) {
          this.#onEvent(state, { room: item.room, ...result.event });
        }
        item.resolve(result);
      })
      .catch((e) => {
        item.sending = false;
        if (e.code === 'disconnected' || e.code === 'timeout') return; // re-sent after reconnect
        this.outbox.delete(clientId);
        item.reject(e);
      });
  }

  /** Drops a queued publish that has not been sent (e.g. the user cancels it). */
  cancelPublish(clientId) {
    const item = this.outbox.get(clientId);
    if (item && !item.sending) {
      this.outbox.delete(clientId);
      item.reject(new LiveError('cancelled', 'Cancelled.'));
    }
  }

  typing(room) {
    return this.request('typing', { room });
  }

  read(room, offset) {
    return this.request('read', { room, offset });
  }

  edit(room, messageId, body) {
    return this.request('edit', { room, message_id: messageId, body });
  }

  delete(room, messageId) {
    return this.request('delete', { room, message_id: messageId });
  }

  /** Hands a refreshed access token to the open socket. */
  async refresh(token) {
    if (this.state !== 'open') return null; // the next auth frame uses the new token
    return this.request('refresh', { token });
  }

  ping() {
    return this.request('ping');
  }

  // ---- live monitor ----------------------------------------------------

  /**
   * Watches the live monitor of organization `org` (null: everything, for a platform
   * admin); the watch is asked for again after every reconnect. Snapshots arrive as
   * `monitor` events. Resolves with the reply when connected (null otherwise: the
   * request goes out once the socket opens).
   */
  async monitor(org = null) {
    this.monitorScope = { org };
    if (this.state !== 'open') return null;
    return this.request('monitor', monitorFields(org));
  }

  /** Stops watching the monitor. */
  async monitorStop() {
    this.monitorScope = null;
    if (this.state === 'open') await this.request('monitor_stop').catch(() => {});
  }
}

function monitorFields(org) {
  return org ? { org } : {};
}

function newRoomState() {
  return {
    epoch: null,
    offset: 0,
    subscribed: false,
    pending: null,
    buffer: [],
    presence: new Set(),
    lastResult: null,
    resetReason: null,
  };
}
