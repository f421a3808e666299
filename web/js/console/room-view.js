// The open room: loading it, its history, live events (messages, edits,
// deletions, presence, typing, receipts) and read receipts. One room is open at
// a time; every asynchronous answer checks that its room is still the open one,
// so nothing from a room left behind (an error, a late page) shows in the next.

import { explain } from '../messages.js';
import { MessageList } from './message-list.js';
import { roomLabel } from './room-list.js';

const HISTORY_PAGE = 50;
const TYPING_SHOW_MS = 3000;

export class RoomView {
  constructor(ctx, ui, roomList) {
    this.ctx = ctx;
    this.ui = ui;
    this.roomList = roomList;
    this.current = null;
    this.onOpen = () => {};
    this.onClose = () => {};
    this.list = new MessageList(ctx, ui, {
      retry: (room, msg) => this.send?.(room, msg.body, msg.clientId),
      edit: (room, msg, body) => ctx.live.edit(room.id, msg.id, body),
      remove: (room, msg) => ctx.live.delete(room.id, msg.id).catch((e) => this.showError(room, e)),
    });
    this.listen(ctx.live);
    ui.loadOlder.addEventListener('click', () => this.loadOlder());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.current) this.scheduleRead(this.current);
    });
  }

  listen(live) {
    const forOpen = (handler) => (e) => {
      if (this.current && e.detail.room === this.current.id) handler(this.current, e.detail);
    };
    live.addEventListener('removed', forOpen((room) => {
      this.showError(room, { code: 'room_not_found' });
      this.ui.composer.querySelectorAll('textarea, button').forEach((c) => (c.disabled = true));
    }));
    live.addEventListener('reset', forOpen((room, d) => {
      this.loadLatest(room, d.reason !== 'initial').catch((e) => this.showError(room, e));
    }));
    live.addEventListener('event', forOpen((room, ev) => this.apply(room, ev, true)));
    live.addEventListener('presence', forOpen((room, d) => {
      room.online = new Set(d.users);
      if (this.list.renderPresence(room)) this.refreshMembers(room);
    }));
    live.addEventListener('typing', forOpen((room, d) => {
      if (d.user_id === this.ctx.me.id) return;
      clearTimeout(room.typing.get(d.user_id));
      room.typing.set(d.user_id, setTimeout(() => {
        room.typing.delete(d.user_id);
        if (this.current === room) this.list.renderTyping(room);
      }, TYPING_SHOW_MS));
      this.list.renderTyping(room);
    }));
    live.addEventListener('receipt', forOpen((room, d) => {
      if (d.offset > (room.readers.get(d.user_id) ?? 0)) room.readers.set(d.user_id, d.offset);
      this.list.renderSeenBy(room);
    }));
    live.addEventListener('state', (e) => {
      if (e.detail.state === 'open' && this.current) this.scheduleRead(this.current);
    });
  }

  close() {
    const old = this.current;
    if (!old) return;
    this.current = null;
    old.observer.disconnect();
    for (const t of old.typing.values()) clearTimeout(t);
    clearTimeout(old.readTimer);
    this.ctx.live.unsubscribe(old.id).catch(() => {});
    this.ui.roomView.hidden = true;
    this.ui.roomEmpty.hidden = false;
    // On a phone the room list and the open room take turns (console.css).
    document.body.classList.remove('room-open');
    this.clearError();
    this.roomList.setOpen(null);
    this.onClose();
  }

  async open(roomId) {
    this.close();
    const ui = this.ui;
    const room = {
      id: roomId,
      info: null,
      members: new Map(),
      readers: new Map(),
      messages: new Map(),
      elements: new Map(),
      online: new Set(),
      typing: new Map(),
      nextBefore: null,
      lastTypingSent: 0,
      maxVisible: 0,
      readSent: 0,
      readTimer: null,
      historyGen: 0,
    };
    room.observer = new IntersectionObserver((entries) => this.onVisible(room, entries), {
      root: ui.messages,
      threshold: [0.1, 0.5, 1],
    });
    this.current = room;
    this.clearError();
    ui.roomEmpty.hidden = true;
    ui.roomView.hidden = false;
    document.body.classList.add('room-open');
    ui.messages.replaceChildren();
    ui.presence.replaceChildren();
    ui.typing.textContent = '';
    ui.loadOlder.hidden = true;
    ui.composer.querySelectorAll('textarea, button').forEach((c) => (c.disabled = false));
    ui.historyStatus.textContent = 'Loading messages…';
    const summary = this.roomList.find(roomId);
    ui.roomTitle.textContent = summary ? roomLabel(summary) : 'Room';
    ui.roomMeta.textContent = '';
    this.roomList.setOpen(roomId);
    try {
      await this.reloadInfo(room);
      if (this.current !== room) return;
      ui.roomTitle.focus();
      // Subscribing emits `reset`, which loads the latest history.
      await this.ctx.live.subscribe(roomId);
    } catch (e) {
      this.showError(room, e);
    }
  }

  /** Reads the room's members and organizations again (after a change). */
  async reloadInfo(room) {
    const info = await this.ctx.session.room(room.id);
    if (this.current !== room) return;
    room.info = info;
    for (const m of info.members ?? []) {
      room.members.set(m.user_id, m.display_name);
      if (!room.readers.has(m.user_id)) room.readers.set(m.user_id, m.last_read_offset ?? 0);
    }
    const summary = this.roomList.find(room.id);
    this.ui.roomTitle.textContent = roomLabel({ ...info, patient_name: summary?.patient_name });
    const n = info.members?.length ?? 0;
    const orgs = (info.orgs ?? []).map((o) => o.name).join(', ');
    this.ui.roomMeta.textContent = `${info.kind === 'direct' ? 'Direct thread' : 'Case room'} · ${n} member${n === 1 ? '' : 's'} · ${orgs}`;
    this.onOpen(room);
  }

  async refreshMembers(room) {
    if (room.refreshing) return;
    room.refreshing = true;
    try {
      await this.reloadInfo(room);
    } catch {
      /* names stay "Former member" */
    } finally {
      room.refreshing = false;
    }
  }

  showError(room, e) {
    if (room && this.current !== room) return; // a room left behind
    this.ui.roomError.textContent = explain(e, { not_found: 'This room does not exist or you are not a member of it.' });
    this.ui.roomError.hidden = false;
    this.ui.historyStatus.textContent = '';
  }

  clearError() {
    this.ui.roomError.hidden = true;
    this.ui.roomError.textContent = '';
  }

  async loadLatest(room, replace) {
    const gen = ++room.historyGen;
    const page = await this.ctx.session.messages(room.id, { limit: HISTORY_PAGE });
    if (this.current !== room || gen !== room.historyGen) return;
    if (replace) {
      for (const [key, msg] of room.messages) {
        if (msg.pending) continue;
        room.messages.delete(key);
        room.elements.get(key)?.remove();
        room.elements.delete(key);
      }
    }
    for (const m of page.messages ?? []) this.fromHistory(room, m);
    room.nextBefore = page.next_before ?? null;
    this.ui.loadOlder.hidden = room.nextBefore == null;
    this.ui.historyStatus.textContent = room.messages.size ? '' : 'No messages yet. Start the conversation below.';
    this.list.renderSeenBy(room);
    this.scrollToBottom();
  }

  async loadOlder() {
    const room = this.current;
    const ui = this.ui;
    if (!room || room.nextBefore == null) return;
    ui.loadOlder.disabled = true;
    ui.historyStatus.textContent = 'Loading older messages…';
    try {
      const page = await this.ctx.session.messages(room.id, { before: room.nextBefore, limit: HISTORY_PAGE });
      if (this.current !== room) return;
      const before = ui.messages.scrollHeight - ui.messages.scrollTop;
      for (const m of page.messages ?? []) this.fromHistory(room, m);
      ui.messages.scrollTop = ui.messages.scrollHeight - before;
      room.nextBefore = page.next_before ?? null;
      ui.loadOlder.hidden = room.nextBefore == null;
      const n = page.messages?.length ?? 0;
      ui.historyStatus.textContent = `${n} older message${n === 1 ? '' : 's'} loaded.`;
      this.list.renderSeenBy(room);
    } catch (e) {
      ui.historyStatus.textContent = `Could not load older messages. ${explain(e)}`;
    } finally {
      ui.loadOlder.disabled = false;
      if (ui.loadOlder.hidden) ui.messages.focus();
    }
  }

  fromHistory(room, m) {
    if (room.messages.get(m.id)?.fromLive) return; // a live event already brought it
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
    this.dropPending(room, msg);
    room.messages.set(msg.id, msg);
    this.list.render(room, msg);
  }

  apply(room, ev, isLive) {
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
      const known = room.messages.get(msg.id);
      if (known && known.fromLive && known.version > msg.version) return; // an edit came first
      this.dropPending(room, msg);
      room.messages.set(msg.id, msg);
      const atBottom = this.nearBottom();
      this.list.render(room, msg);
      this.ui.historyStatus.textContent = '';
      if (room.typing.has(msg.sender)) {
        clearTimeout(room.typing.get(msg.sender));
        room.typing.delete(msg.sender);
        this.list.renderTyping(room);
      }
      if (atBottom || msg.sender === this.ctx.me.id) this.scrollToBottom();
      if (isLive && msg.sender !== this.ctx.me.id) {
        this.ctx.toasts.announce(`New message from ${this.list.nameOf(room, msg.sender)}: ${msg.body ?? ''}`);
      }
      this.list.renderSeenBy(room);
      return;
    }
    if (ev.kind !== 'edit' && ev.kind !== 'delete') return;
    const target = room.messages.get(ev.message_id);
    if (!target || (target.version ?? target.offset) >= ev.offset) return;
    target.version = ev.offset;
    target.fromLive = true;
    if (ev.kind === 'edit') {
      target.body = ev.body ?? target.body;
      target.editedAt = ev.created_at;
    } else {
      target.deleted = true;
      target.body = null;
      target.editing = false;
    }
    this.list.render(room, target);
  }

  /** A stored message replaces the local "sending…" copy with the same client_id. */
  dropPending(room, msg) {
    if (!msg.clientId || msg.sender !== this.ctx.me.id) return;
    const key = `pending:${msg.clientId}`;
    if (!room.messages.has(key)) return;
    room.messages.delete(key);
    room.elements.get(key)?.remove();
    room.elements.delete(key);
  }

  nearBottom() {
    const l = this.ui.messages;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  }

  scrollToBottom() {
    this.ui.messages.scrollTop = this.ui.messages.scrollHeight;
  }

  onVisible(room, entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      if (entry.intersectionRatio < 0.5 && entry.intersectionRect.height < 48) continue;
      const offset = Number(entry.target.dataset.offset);
      if (offset > room.maxVisible) room.maxVisible = offset;
    }
    this.scheduleRead(room);
  }

  scheduleRead(room) {
    if (this.current !== room || document.visibilityState !== 'visible') return;
    clearTimeout(room.readTimer);
    room.readTimer = setTimeout(() => this.sendRead(room), 300);
  }

  async sendRead(room) {
    const live = this.ctx.live;
    if (this.current !== room || document.visibilityState !== 'visible') return;
    let offset = room.maxVisible;
    // The newest message is on screen: everything up to the stream position is read.
    const newest = Math.max(0, ...[...room.messages.values()].filter((m) => !m.pending).map((m) => m.offset));
    const pos = live.position(room.id);
    if (offset >= newest && pos && pos.offset > offset) offset = pos.offset;
    if (offset <= room.readSent || live.state !== 'open') return;
    try {
      await live.read(room.id, offset);
      room.readSent = Math.max(room.readSent, offset);
      const me = this.ctx.me.id;
      room.readers.set(me, Math.max(room.readers.get(me) ?? 0, offset));
      this.roomList.markRead(room.id, offset);
    } catch {
      // Not subscribed yet or disconnected: the next visibility change retries.
    }
  }
}
