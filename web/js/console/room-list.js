// "My rooms": the list with unread counts, kept live by the per-user room events
// (`room.activity`, `room.added`, `room.removed`, docs/protocol.md) instead of a
// poll. The open room's count stays 0: its messages are read as they arrive.

import { el } from '../dom.js';
import { explain } from '../messages.js';

/** A room's name as the care team sees it: a direct thread by its patient. */
export function roomLabel(room) {
  if (room.kind === 'direct') return room.patient_name ? `${room.patient_name} (direct)` : room.title || 'Direct thread';
  return room.title || 'Untitled case';
}

export class RoomList {
  constructor(ctx, { list, status, reload }) {
    this.ctx = ctx;
    this.list = list;
    this.status = status;
    this.rooms = [];
    this.openId = null;
    reload.addEventListener('click', () => this.load().catch((e) => this.showError(e)));
    ctx.live.addEventListener('userevent', (e) => this.onUserEvent(e.detail));
    // After a reconnect, events sent while away are lost: read the list again.
    ctx.live.addEventListener('state', (e) => {
      if (e.detail.state === 'open' && this.loaded) this.load().catch(() => {});
    });
  }

  async load() {
    if (!this.rooms.length) this.status.textContent = 'Loading rooms…';
    const body = await this.ctx.session.rooms();
    this.rooms = body.rooms ?? [];
    this.loaded = true;
    this.render();
    this.status.textContent = this.rooms.length ? '' : 'You are not in any room yet.';
  }

  showError(e) {
    this.status.textContent = `Could not load your rooms. ${explain(e)}`;
  }

  find(id) {
    return this.rooms.find((r) => r.id === id);
  }

  setOpen(id) {
    this.openId = id;
    const room = this.find(id);
    if (room) room.unread = 0;
    this.render();
  }

  /** The open room was read up to `offset`. */
  markRead(id, offset) {
    const room = this.find(id);
    if (!room) return;
    room.unread = 0;
    room.last_read_offset = Math.max(room.last_read_offset ?? 0, offset);
    this.render();
  }

  onUserEvent({ kind, payload }) {
    if (kind === 'room.activity') {
      const room = this.find(payload.room);
      if (!room) return void this.load().catch(() => {});
      room.offset = Math.max(room.offset ?? 0, payload.offset);
      const mine = payload.sender_id === this.ctx.me.id;
      const seen = payload.offset <= (room.last_read_offset ?? 0);
      if (!mine && !seen && room.id !== this.openId) room.unread = (room.unread ?? 0) + 1;
      // Newest activity first.
      this.rooms = [room, ...this.rooms.filter((r) => r !== room)];
      this.render();
    } else if (kind === 'room.added' || kind === 'room.removed') {
      this.load().catch(() => {});
    }
  }

  render() {
    // Re-rendering must not take keyboard focus away from a room link.
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.roomId : null;
    const items = this.rooms.map((room) => {
      const unread = room.id === this.openId ? 0 : room.unread ?? 0;
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
      if (room.id === this.openId) link.setAttribute('aria-current', 'page');
      return el('li', {}, [link]);
    });
    this.list.replaceChildren(...items);
    if (focused) this.list.querySelector(`a[data-room-id="${CSS.escape(focused)}"]`)?.focus();
  }
}
