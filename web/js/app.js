// The clinician console: my rooms with unread counts, and one open room with
// history, live chat, presence, typing and read receipts.

import { ApiError, Session } from './api.js';
import { LiveClient, newClientId } from './live.js';
import { el, formatTime, setFlash } from './dom.js';

const HISTORY_PAGE = 50;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOW_MS = 3000;
const ROOMS_REFRESH_MS = 60_000;

const $ = (id) => document.getElementById(id);

const session = Session.resume();
if (!session) {
  location.replace('/');
  await new Promise(() => {}); // signed out: stop here while the browser navigates
}

const ui = {
  whoami: $('whoami'),
  whoamiName: $('whoami-name'),
  conn: $('conn-status'),
  logout: $('logout'),
  roomsList: $('rooms-list'),
  roomsStatus: $('rooms-status'),
  roomsReload: $('rooms-reload'),
  roomEmpty: $('room-empty'),
  roomView: $('room-view'),
  roomTitle: $('room-title'),
  roomMeta: $('room-meta'),
  roomError: $('room-error'),
  presence: $('presence-list'),
  loadOlder: $('load-older'),
  historyStatus: $('history-status'),
  messages: $('messages'),
  typing: $('typing'),
  composer: $('composer'),
  input: $('message-input'),
  composerError: $('composer-error'),
  announcer: $('announcer'),
};

let me = null; // GET /api/v1/me
let rooms = []; // GET /api/v1/rooms
let current = null; // the open room's state (see openRoom)

// ---- session and socket -------------------------------------------------

session.addEventListener('ended', (e) => {
  live.stop();
  const reason = e.detail?.reason;
  if (reason !== 'logout') setFlash('Your session has ended. Please sign in again.');
  location.replace('/');
});

const live = new LiveClient({
  getToken: ({ force }) => session.accessToken({ force }),
});

// Every refreshed access token goes to the open socket too.
session.addEventListener('token', (e) => {
  live.refresh(e.detail.access_token).catch(() => {
    /* if the socket refuses it, its own expiry (4002) makes it reconnect */
  });
});

live.addEventListener('state', (e) => {
  const { state, delay } = e.detail;
  ui.conn.dataset.state = state;
  ui.conn.textContent =
    state === 'open'
      ? 'Connected'
      : state === 'connecting'
        ? 'Connecting…'
        : state === 'reconnecting'
          ? `Connection lost. Reconnecting${delay >= 1000 ? ` in ${Math.round(delay / 1000)} s` : ''}…`
          : 'Not connected';
});

live.addEventListener('open', (e) => {
  const max = e.detail?.limits?.max_body_chars;
  if (Number.isInteger(max) && max > 0) ui.input.maxLength = max;
});

live.addEventListener('authfailed', () => session.end('socket'));

// Notices from the notifier, read out by screen readers and shown in the live
// region. An appointment change (`appointment.*`) is not announced itself: the
// notifier's in-app notice about it carries the text written for this reader,
// in their language and time zone.
live.userEvents = true;
live.addEventListener('userevent', (e) => {
  const { kind, payload } = e.detail;
  if (kind === 'notification') announce(`${payload.title}: ${payload.body}`);
});

live.addEventListener('removed', (e) => {
  if (current && e.detail.room === current.id) {
    showRoomError({ message: 'You are no longer a member of this room.' });
    ui.composer.querySelectorAll('textarea, button').forEach((c) => {
      c.disabled = true;
    });
  }
  loadRooms().catch(() => {});
});

live.addEventListener('reset', (e) => {
  if (current && e.detail.room === current.id) {
    loadLatestHistory(current, e.detail.reason !== 'initial').catch(showRoomError);
  }
});

live.addEventListener('event', (e) => {
  const ev = e.detail;
  if (current && ev.room === current.id) applyEvent(current, ev, { live: true });
});

live.addEventListener('presence', (e) => {
  if (current && e.detail.room === current.id) {
    current.online = new Set(e.detail.users);
    renderPresence(current);
  }
});

live.addEventListener('typing', (e) => {
  const { room, user_id: userId } = e.detail;
  if (!current || room !== current.id || userId === me?.id) return;
  clearTimeout(current.typing.get(userId));
  current.typing.set(
    userId,
    setTimeout(() => {
      current?.typing.delete(userId);
      renderTyping(current);
    }, TYPING_SHOW_MS),
  );
  renderTyping(current);
});

live.addEventListener('receipt', (e) => {
  const { room, user_id: userId, offset } = e.detail;
  if (!current || room !== current.id) return;
  const prev = current.readers.get(userId) ?? 0;
  if (offset > prev) current.readers.set(userId, offset);
  renderSeenBy(current);
});

// ---- start ---------------------------------------------------------------

ui.logout.addEventListener('click', async () => {
  ui.logout.disabled = true;
  live.stop();
  await session.logout();
});

ui.roomsReload.addEventListener('click', () => loadRooms().catch(showRoomsError));

window.addEventListener('hashchange', () => routeFromHash());

init().catch((e) => {
  if (!(e instanceof ApiError && e.status === 401)) showRoomsError(e);
});

async function init() {
  me = await session.me();
  ui.whoamiName.textContent = me.display_name;
  ui.whoami.dataset.userId = me.id;
  ui.whoami.hidden = false;
  live.start();
  await loadRooms();
  routeFromHash();
  setInterval(() => {
    if (document.visibilityState === 'visible') loadRooms().catch(() => {});
  }, ROOMS_REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && current) scheduleRead(current);
  });
}

// ---- rooms list -----------------------------------------------------------

async function loadRooms() {
  ui.roomsStatus.textContent = rooms.length ? '' : 'Loading rooms…';
  const body = await session.rooms();
  rooms = body.rooms ?? [];
  renderRooms();
  ui.roomsStatus.textContent = rooms.length ? '' : 'You are not in any room yet.';
}

function showRoomsError(e) {
  ui.roomsStatus.textContent = `Could not load your rooms: ${e.message}`;
}

function roomLabel(room) {
  return room.title || (room.kind === 'direct' ? 'Direct thread' : 'Untitled case');
}

function renderRooms() {
  // Re-rendering must not take keyboard focus away from a room link.
  const focusedRoom = ui.roomsList.contains(document.activeElement)
    ? document.activeElement.dataset.roomId
    : null;
  const items = rooms.map((room) => {
    const unread = current?.id === room.id ? 0 : room.unread ?? 0;
    const link = el('a', { class: 'room-link', href: `#room=${encodeURIComponent(room.id)}`, 'data-room-id': room.id }, [
      el('span', { class: 'room-link-title' }, roomLabel(room)),
      el('span', { class: 'room-kind' }, room.kind === 'direct' ? 'Direct' : 'Case'),
      unread > 0
        ? el('span', { class: 'badge', 'data-unread': String(unread) }, [
            el('span', { 'aria-hidden': 'true' }, String(unread)),
            el('span', { class: 'visually-hidden' }, `, ${unread} unread message${unread === 1 ? '' : 's'}`),
          ])
        : null,
    ]);
    if (current?.id === room.id) link.setAttribute('aria-current', 'page');
    return el('li', {}, [link]);
  });
  ui.roomsList.replaceChildren(...items);
  if (focusedRoom) ui.roomsList.querySelector(`a[data-room-id="${CSS.escape(focusedRoom)}"]`)?.focus();
}

function routeFromHash() {
  const match = /^#room=([^&]+)$/.exec(location.hash);
  const roomId = match ? decodeURIComponent(match[1]) : null;
  if (roomId && roomId !== current?.id) openRoom(roomId).catch(showRoomError);
  if (!roomId && current) closeRoom();
}

// ---- the open room --------------------------------------------------------

function closeRoom() {
  if (!current) return;
  const old = current;
  current = null;
  old.observer.disconnect();
  for (const t of old.typing.values()) clearTimeout(t);
  clearTimeout(old.readTimer);
  live.unsubscribe(old.id).catch(() => {});
  ui.roomView.hidden = true;
  ui.roomEmpty.hidden = false;
  renderRooms();
}

async function openRoom(roomId) {
  closeRoom();
  const room = {
    id: roomId,
    info: null,
    members: new Map(), // user id -> display name
    readers: new Map(), // user id -> last read offset
    messages: new Map(), // message id (or "pending:<client id>") -> message
    elements: new Map(), // same keys -> <li>
    online: new Set(),
    typing: new Map(), // user id -> timeout
    nextBefore: null,
    lastTypingSent: 0,
    maxVisible: 0,
    readSent: 0,
    readTimer: null,
    historyGen: 0,
    observer: null,
  };
  room.observer = new IntersectionObserver((entries) => onVisible(room, entries), {
    root: ui.messages,
    threshold: [0.1, 0.5, 1],
  });
  current = room;
  ui.roomEmpty.hidden = true;
  ui.roomView.hidden = false;
  ui.roomError.hidden = true;
  ui.messages.replaceChildren();
  ui.presence.replaceChildren();
  ui.typing.textContent = '';
  ui.loadOlder.hidden = true;
  ui.composer.querySelectorAll('textarea, button').forEach((c) => {
    c.disabled = false;
  });
  ui.historyStatus.textContent = 'Loading messages…';
  const summary = rooms.find((r) => r.id === roomId);
  ui.roomTitle.textContent = summary ? roomLabel(summary) : 'Room';
  ui.roomMeta.textContent = '';
  renderRooms();

  const info = await session.room(roomId);
  if (current !== room) return;
  room.info = info;
  for (const m of info.members ?? []) {
    room.members.set(m.user_id, m.display_name);
    room.readers.set(m.user_id, m.last_read_offset ?? 0);
  }
  ui.roomTitle.textContent = roomLabel(info);
  ui.roomMeta.textContent = `${info.kind === 'direct' ? 'Direct thread' : 'Case room'} · ${room.members.size} member${room.members.size === 1 ? '' : 's'}`;
  ui.roomTitle.focus();

  // Subscribing answers with the room's position and emits `reset`, which
  // loads the latest history; events after that position arrive live.
  try {
    await live.subscribe(roomId);
  } catch (e) {
    if (current === room) showRoomError(e);
  }
}

function showRoomError(e) {
  const message =
    e?.code === 'room_not_found' || e?.code === 'not_found'
      ? 'This room does not exist or you are not a member of it.'
      : `Something went wrong: ${e?.message ?? e}`;
  ui.roomError.textContent = message;
  ui.roomError.hidden = false;
  ui.historyStatus.textContent = '';
}

/** Loads the newest page of history (on open, and after a failed recovery). */
async function loadLatestHistory(room, replace) {
  const gen = ++room.historyGen;
  const page = await session.messages(room.id, { limit: HISTORY_PAGE });
  if (current !== room || gen !== room.historyGen) return;
  if (replace) {
    // The stream could not be recovered: what we hold may be stale.
    for (const [key, msg] of room.messages) {
      if (!msg.pending) {
        room.messages.delete(key);
        room.elements.get(key)?.remove();
        room.elements.delete(key);
      }
    }
  }
  for (const m of page.messages ?? []) upsertFromHistory(room, m);
  room.nextBefore = page.next_before ?? null;
  ui.loadOlder.hidden = room.nextBefore == null;
  ui.historyStatus.textContent = room.messages.size ? '' : 'No messages yet. Start the conversation below.';
  renderSeenBy(room);
  scrollToBottom();
}

ui.loadOlder.addEventListener('click', async () => {
  const room = current;
  if (!room || room.nextBefore == null) return;
  ui.loadOlder.disabled = true;
  ui.historyStatus.textContent = 'Loading older messages…';
  try {
    const page = await session.messages(room.id, { before: room.nextBefore, limit: HISTORY_PAGE });
    if (current !== room) return;
    const before = ui.messages.scrollHeight - ui.messages.scrollTop;
    for (const m of page.messages ?? []) upsertFromHistory(room, m);
    ui.messages.scrollTop = ui.messages.scrollHeight - before;
    room.nextBefore = page.next_before ?? null;
    ui.loadOlder.hidden = room.nextBefore == null;
    const n = page.messages?.length ?? 0;
    ui.historyStatus.textContent = `${n} older message${n === 1 ? '' : 's'} loaded.`;
    renderSeenBy(room);
  } catch (e) {
    ui.historyStatus.textContent = `Could not load older messages: ${e.message}`;
  } finally {
    ui.loadOlder.disabled = false;
    if (ui.loadOlder.hidden) ui.messages.focus();
  }
});

function upsertFromHistory(room, m) {
  // A live event already brought this message (and any later edit): keep it.
  if (room.messages.get(m.id)?.fromLive) return;
  const msg = {
    id: m.id,
    offset: m.offset,
    version: m.offset,
    sender: m.sender_id,
    clientId: m.client_id,
    body: m.body,
    deleted: Boolean(m.deleted),
    editedAt: m.edited_at,
    createdAt: m.created_at,
    fromLive: false,
  };
  dropPending(room, msg);
  room.messages.set(msg.id, msg);
  renderMessage(room, msg);
}

function applyEvent(room, ev, { live: isLive }) {
  if (ev.kind === 'message') {
    const msg = {
      id: ev.message_id ?? ev.id,
      offset: ev.offset,
      version: ev.offset,
      sender: ev.sender_id,
      clientId: ev.client_id,
      body: ev.body ?? null,
      deleted: false,
      editedAt: null,
      createdAt: ev.created_at,
      fromLive: true,
    };
    const patch = room.messages.get(msg.id);
    if (patch && patch.fromLive && patch.version > msg.version) return; // an edit came first
    dropPending(room, msg);
    room.messages.set(msg.id, msg);
    const atBottom = isNearBottom();
    renderMessage(room, msg);
    ui.historyStatus.textContent = '';
    if (room.typing.has(msg.sender)) {
      clearTimeout(room.typing.get(msg.sender));
      room.typing.delete(msg.sender);
      renderTyping(room);
    }
    if (atBottom || msg.sender === me?.id) scrollToBottom();
    if (isLive && msg.sender !== me?.id) {
      announce(`New message from ${nameOf(room, msg.sender)}: ${msg.body ?? ''}`);
    }
    renderSeenBy(room);
    return;
  }
  if (ev.kind === 'edit' || ev.kind === 'delete') {
    const target = room.messages.get(ev.message_id);
    if (!target) return; // not loaded: history shows its current state
    if ((target.version ?? target.offset) >= ev.offset) return;
    target.version = ev.offset;
    target.fromLive = true;
    if (ev.kind === 'edit') {
      target.body = ev.body ?? target.body;
      target.editedAt = ev.created_at;
    } else {
      target.deleted = true;
      target.body = null;
    }
    renderMessage(room, target);
  }
}

/** A stored message replaces the local "sending…" copy with the same client_id. */
function dropPending(room, msg) {
  if (!msg.clientId || msg.sender !== me?.id) return;
  const key = `pending:${msg.clientId}`;
  if (room.messages.has(key)) {
    room.messages.delete(key);
    room.elements.get(key)?.remove();
    room.elements.delete(key);
  }
}

function nameOf(room, userId) {
  if (userId === me?.id) return 'You';
  return room.members.get(userId) ?? 'Former member';
}

// ---- rendering messages ----------------------------------------------------

function messageKey(msg) {
  return msg.pending ? `pending:${msg.clientId}` : msg.id;
}

function renderMessage(room, msg) {
  const key = messageKey(msg);
  let li = room.elements.get(key);
  const fresh = !li;
  if (fresh) {
    li = el('li', { class: 'msg' });
    room.elements.set(key, li);
  }
  const mine = msg.sender === me?.id;
  li.className = `msg${mine ? ' mine' : ''}${msg.pending ? ' pending' : ''}${msg.failed ? ' failed' : ''}`;
  li.dataset.key = key;
  if (msg.pending) {
    li.dataset.clientId = msg.clientId;
    delete li.dataset.offset;
  } else {
    li.dataset.offset = String(msg.offset);
    li.dataset.messageId = msg.id;
  }
  li.dataset.sender = msg.sender;

  const head = el('p', { class: 'msg-head' }, [
    el('span', { class: 'msg-sender' }, nameOf(room, msg.sender)),
    ' ',
    msg.createdAt ? el('time', { datetime: msg.createdAt }, formatTime(msg.createdAt)) : null,
    msg.editedAt && !msg.deleted ? el('span', { class: 'msg-edited' }, ' (edited)') : null,
  ]);
  const body = msg.deleted
    ? el('p', { class: 'msg-body deleted' }, 'Message deleted')
    : el('p', { class: 'msg-body' }, msg.body ?? '');
  const parts = [head, body];
  if (msg.pending) {
    if (msg.failed) {
      const retry = el('button', { type: 'button', class: 'button small' }, 'Retry');
      retry.addEventListener('click', () => sendMessage(room, msg.body, msg.clientId));
      parts.push(el('p', { class: 'msg-status', role: 'status' }, [`Not sent: ${msg.failed}. `, retry]));
    } else {
      parts.push(el('p', { class: 'msg-status' }, 'Sending…'));
    }
  }
  const seen = li.querySelector('.msg-seen');
  if (seen) parts.push(seen);
  li.replaceChildren(...parts);

  if (fresh || !li.isConnected) {
    placeMessage(room, li, msg);
    if (!msg.pending) room.observer.observe(li);
  }
}

/** Inserts the element in offset order (pending copies stay at the end). */
function placeMessage(room, li, msg) {
  const list = ui.messages;
  if (msg.pending) {
    list.append(li);
    return;
  }
  let node = list.lastElementChild;
  while (node && (node.classList.contains('pending') || Number(node.dataset.offset) > msg.offset)) {
    node = node.previousElementSibling;
  }
  if (node) node.after(li);
  else list.prepend(li);
}

function renderSeenBy(room) {
  // Each reader is shown once, on the newest of my messages they have read.
  const mine = [...room.messages.values()]
    .filter((m) => !m.pending && m.sender === me?.id)
    .sort((a, b) => b.offset - a.offset);
  const seenBy = new Map(); // message id -> names
  for (const [userId, readOffset] of room.readers) {
    if (userId === me?.id || !readOffset) continue;
    const msg = mine.find((m) => m.offset <= readOffset);
    if (!msg) continue;
    if (!seenBy.has(msg.id)) seenBy.set(msg.id, []);
    seenBy.get(msg.id).push(nameOf(room, userId));
  }
  for (const m of mine) {
    const li = room.elements.get(m.id);
    if (!li) continue;
    let seen = li.querySelector('.msg-seen');
    const names = seenBy.get(m.id);
    if (!names) {
      seen?.remove();
      continue;
    }
    if (!seen) {
      seen = el('p', { class: 'msg-seen' });
      li.append(seen);
    }
    seen.textContent = `Seen by ${names.sort().join(', ')}`;
  }
}

function renderPresence(room) {
  const users = [...room.online].sort((a, b) => nameOf(room, a).localeCompare(nameOf(room, b)));
  const items = users.map((userId) =>
    el('li', { class: 'presence-user', 'data-user-id': userId }, [
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      userId === me?.id ? `${me.display_name} (you)` : nameOf(room, userId),
    ]),
  );
  if (!items.length) items.push(el('li', { class: 'presence-none' }, 'Nobody'));
  ui.presence.replaceChildren(...items);
  // Someone we do not know yet (added after we opened the room): refresh members.
  if (users.some((u) => u !== me?.id && !room.members.has(u))) refreshMembers(room);
}

async function refreshMembers(room) {
  if (room.refreshingMembers) return;
  room.refreshingMembers = true;
  try {
    const info = await session.room(room.id);
    if (current !== room) return;
    for (const m of info.members ?? []) room.members.set(m.user_id, m.display_name);
  } catch {
    /* names stay "Former member" */
  } finally {
    room.refreshingMembers = false;
  }
}

function renderTyping(room) {
  if (!room || current !== room) return;
  const names = [...room.typing.keys()].map((u) => nameOf(room, u));
  ui.typing.textContent =
    names.length === 0
      ? ''
      : names.length === 1
        ? `${names[0]} is typing…`
        : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
}

function isNearBottom() {
  const l = ui.messages;
  return l.scrollHeight - l.scrollTop - l.clientHeight < 80;
}

function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function announce(text) {
  const line = el('p', {}, text.length > 300 ? `${text.slice(0, 300)}…` : text);
  ui.announcer.append(line);
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
}

// ---- read receipts ------------------------------------------------------------

function onVisible(room, entries) {
  for (const entry of entries) {
    // Mostly on screen, or a tall message showing a good part of itself.
    if (!entry.isIntersecting) continue;
    if (entry.intersectionRatio < 0.5 && entry.intersectionRect.height < 48) continue;
    const offset = Number(entry.target.dataset.offset);
    if (offset > room.maxVisible) room.maxVisible = offset;
  }
  scheduleRead(room);
}

function scheduleRead(room) {
  if (current !== room || document.visibilityState !== 'visible') return;
  clearTimeout(room.readTimer);
  room.readTimer = setTimeout(() => sendRead(room), 300);
}

async function sendRead(room) {
  if (current !== room || document.visibilityState !== 'visible') return;
  let offset = room.maxVisible;
  // The newest message is on screen: everything up to the stream position is read
  // (edits and deletions after it carry offsets too).
  const newest = Math.max(0, ...[...room.messages.values()].filter((m) => !m.pending).map((m) => m.offset));
  const pos = live.position(room.id);
  if (offset >= newest && pos && pos.offset > offset) offset = pos.offset;
  if (offset <= room.readSent || live.state !== 'open') return;
  try {
    await live.read(room.id, offset);
    room.readSent = Math.max(room.readSent, offset);
    room.readers.set(me.id, Math.max(room.readers.get(me.id) ?? 0, offset));
    const summary = rooms.find((r) => r.id === room.id);
    if (summary) {
      summary.unread = 0;
      summary.last_read_offset = offset;
      renderRooms();
    }
  } catch {
    // Not subscribed yet or disconnected: the next visibility change retries.
  }
}

live.addEventListener('state', (e) => {
  if (e.detail.state === 'open' && current) scheduleRead(current);
});

// ---- composing ------------------------------------------------------------------

ui.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.input.addEventListener('input', () => {
  const room = current;
  if (!room || !ui.input.value.trim() || live.state !== 'open') return;
  const now = Date.now();
  if (now - room.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  room.lastTypingSent = now;
  live.typing(room.id).catch(() => {});
});

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = current;
  if (!room) return;
  const body = ui.input.value.trim();
  ui.composerError.hidden = true;
  ui.input.removeAttribute('aria-invalid');
  if (!body) {
    ui.composerError.textContent = 'Write a message first.';
    ui.composerError.hidden = false;
    ui.input.setAttribute('aria-invalid', 'true');
    ui.input.focus();
    return;
  }
  ui.input.value = '';
  sendMessage(room, body, newClientId());
  ui.input.focus();
});

function sendMessage(room, body, clientId) {
  const key = `pending:${clientId}`;
  const msg = {
    id: key,
    pending: true,
    clientId,
    sender: me.id,
    body,
    createdAt: new Date().toISOString(),
    failed: null,
  };
  room.messages.set(key, msg);
  renderMessage(room, msg);
  ui.historyStatus.textContent = '';
  scrollToBottom();
  live
    .publish(room.id, body, clientId)
    .then((result) => {
      // Normally the event (push or reply) already replaced the pending copy.
      if (current === room && result?.event) {
        applyEvent(room, { room: room.id, ...result.event }, { live: false });
        dropPending(room, { clientId, sender: me.id });
      }
    })
    .catch((err) => {
      if (current !== room || !room.messages.has(key)) return;
      msg.failed = err.code === 'rate_limited' ? 'you are sending too fast' : err.message;
      renderMessage(room, msg);
    });
}
