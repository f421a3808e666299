// Messages with the care team: the patient's threads, one open thread with
// its history and live messages (live.js: subscribe, reset → history, event →
// append, publish with a client_id so a resend is never doubled), and starting
// a thread with an organization the patient belongs to. On a phone the list
// and the open thread take turns, so the composer is on screen without
// scrolling past the list.

import { el } from '../dom.js';
import { explain } from '../messages.js';
import { slotText } from './time.js';

const $ = (id) => document.getElementById(id);

export class Threads {
  constructor(ctx) {
    this.ctx = ctx;
    this.rooms = [];
    this.current = null; // {id, title, names: Map, offset}
    const { live } = ctx;
    live.addEventListener('reset', (e) => {
      if (this.current?.id === e.detail.room) this.#loadHistory().catch((err) => this.#error(err));
    });
    live.addEventListener('event', (e) => this.#onEvent(e.detail));
    live.addEventListener('removed', (e) => {
      if (this.current?.id === e.detail.room) this.close();
      this.load();
    });
    $('thread-back').addEventListener('click', () => this.close({ focusList: true }));
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      this.#send();
    });
    $('message-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.#send();
      }
    });
    $('new-thread').addEventListener('submit', (e) => {
      e.preventDefault();
      this.#start($('new-thread-org').value);
    });
  }

  /** "Start a conversation with" offers the clinics the patient has no thread with yet. */
  #renderStart() {
    const open = new Set(this.rooms.filter((r) => r.kind === 'direct').map((r) => r.org_id));
    const orgs = (this.ctx.orgs ?? []).filter((o) => !open.has(o.org_id));
    $('new-thread-org').replaceChildren(...orgs.map((o) => el('option', { value: o.org_id }, o.org_name)));
    $('new-thread').hidden = orgs.length === 0;
  }

  async load() {
    try {
      const { rooms } = await this.ctx.session.get('/api/v1/rooms');
      this.rooms = rooms;
      $('threads-error').hidden = true;
    } catch (e) {
      this.#error(e);
      return;
    }
    // Follow every thread (a patient has few), so a reply in any of them
    // counts as unread at once, whichever panel is showing.
    for (const r of this.rooms) this.ctx.live.subscribe(r.id).catch(() => {});
    this.#renderList();
  }

  /** The messages panel became visible: keep the open thread's newest message in view. */
  shown() {
    const list = $('thread-messages');
    list.scrollTop = list.scrollHeight;
    const room = this.rooms.find((r) => r.id === this.current?.id);
    if (room?.unread) {
      room.unread = 0;
      this.#renderList();
    }
    this.#markRead();
  }

  #orgName(orgId) {
    return (this.ctx.orgs ?? []).find((o) => o.org_id === orgId)?.org_name ?? '';
  }

  #title(room) {
    const org = this.#orgName(room.org_id);
    if (room.kind === 'direct') return org ? `Care team, ${org}` : 'Care team';
    return room.title;
  }

  #renderList() {
    const items = this.rooms.map((r) => {
      const unread = r.unread ?? 0;
      const link = el('a', { href: `#messages`, class: 'thread-link', 'aria-current': r.id === this.current?.id ? 'true' : null }, [
        el('span', { class: 'thread-title' }, this.#title(r)),
        unread ? el('span', { class: 'badge' }, [String(unread), el('span', { class: 'visually-hidden' }, ' unread')]) : null,
      ]);
      link.addEventListener('click', (e) => {
        e.preventDefault();
        this.open(r.id);
      });
      return el('li', {}, link);
    });
    $('threads').replaceChildren(...items);
    $('threads-empty').hidden = this.rooms.length > 0;
    this.#renderStart();
    const total = this.rooms.reduce((n, r) => n + (r.unread ?? 0), 0);
    $('messages-unread').hidden = total === 0;
    $('messages-unread').textContent = total ? `${total}` : '';
  }

  async open(roomId) {
    if (this.current?.id === roomId) {
      this.#showThread();
      return;
    }
    const room = this.rooms.find((r) => r.id === roomId);
    this.current = { id: roomId, title: room ? this.#title(room) : 'Care team', names: new Map(), offset: 0 };
    $('thread-title').textContent = this.current.title;
    $('thread-messages').replaceChildren();
    $('composer-error').hidden = true;
    this.#showThread();
    try {
      const detail = await this.ctx.session.get(`/api/v1/rooms/${encodeURIComponent(roomId)}`);
      for (const m of detail.members ?? []) this.current.names.set(m.user_id, m.display_name);
    } catch {
      /* names fall back to "Care team" */
    }
    // Already followed: load its history now; a first follow loads it on `reset`.
    if (this.ctx.live.position(roomId)) await this.#loadHistory().catch((e) => this.#error(e));
    else this.ctx.live.subscribe(roomId).catch((e) => this.#error(e));
    if (room) room.unread = 0;
    this.#renderList();
  }

  #showThread() {
    $('thread-pane').hidden = false;
    $('messages').classList.add('thread-open');
    $('thread-title').focus();
  }

  close({ focusList = false } = {}) {
    $('messages').classList.remove('thread-open');
    if (focusList) $('messages-title').focus();
  }

  async #loadHistory() {
    const cur = this.current;
    const page = await this.ctx.session.get(`/api/v1/rooms/${encodeURIComponent(cur.id)}/messages?limit=50`);
    if (this.current !== cur) return;
    const items = [...page.messages].reverse().map((m) => this.#message(m));
    $('thread-messages').replaceChildren(...items);
    cur.offset = page.offset;
    this.shown();
    this.#markRead();
  }

  #sender(id) {
    if (id === this.ctx.me.id) return 'You';
    return this.current?.names.get(id) ?? 'Care team';
  }

  #message(m) {
    const mine = m.sender_id === this.ctx.me.id;
    const when = slotText(m.created_at, null, this.ctx.zone, new Date(), this.ctx.locale);
    return el('li', { class: `msg${mine ? ' mine' : ''}`, 'data-message': m.id ?? m.message_id }, [
      el('p', { class: 'msg-head' }, [el('span', { class: 'msg-sender' }, this.#sender(m.sender_id)), ` · ${when}`]),
      el('p', { class: `msg-body${m.deleted ? ' deleted' : ''}` }, m.deleted || m.body == null ? 'Message deleted' : m.body),
    ]);
  }

  #onEvent(ev) {
    const fromOthers = ev.kind === 'message' && ev.sender_id !== this.ctx.me.id;
    const room = this.rooms.find((r) => r.id === ev.room);
    // Unread unless it is shown: another thread, or this one while another panel is open.
    if (fromOthers && room && (ev.room !== this.current?.id || $('messages').hidden)) {
      room.unread = (room.unread ?? 0) + 1;
      this.#renderList();
    }
    if (ev.room !== this.current?.id) return;
    const list = $('thread-messages');
    const existing = list.querySelector(`[data-message="${CSS.escape(ev.message_id ?? ev.id)}"]`);
    if (ev.kind === 'message') {
      if (!existing) list.append(this.#message({ ...ev, id: ev.message_id ?? ev.id }));
      if (ev.sender_id !== this.ctx.me.id) this.ctx.announce(`New message from ${this.#sender(ev.sender_id)}: ${ev.body}`);
    } else if (existing) {
      existing.replaceWith(this.#message({ ...ev, id: ev.message_id, deleted: ev.kind === 'delete' }));
    }
    this.current.offset = ev.offset;
    list.scrollTop = list.scrollHeight;
    this.#markRead();
  }

  #markRead() {
    const cur = this.current;
    if (!cur?.offset || $('messages').hidden) return;
    this.ctx.live.read(cur.id, cur.offset).catch(() => {});
  }

  async #send() {
    const input = $('message-input');
    const body = input.value.trim();
    if (!body || !this.current) return;
    $('composer-error').hidden = true;
    input.value = '';
    try {
      await this.ctx.live.publish(this.current.id, body);
    } catch (e) {
      input.value = body;
      $('composer-error').textContent = `Your message was not sent. ${explain(e)}`;
      $('composer-error').hidden = false;
    }
  }

  /** Starts the patient's thread with an organization's care team (or opens the one there is). */
  async #start(orgId) {
    const existing = this.rooms.find((r) => r.kind === 'direct' && r.org_id === orgId);
    if (existing) return this.open(existing.id);
    $('new-thread-start').disabled = true;
    try {
      // The care team: the clinic's providers, so they see the thread at once.
      const providers = await this.ctx.session.get(`/api/v1/orgs/${encodeURIComponent(orgId)}/providers`).catch(() => []);
      const room = await this.ctx.session.post(`/api/v1/orgs/${encodeURIComponent(orgId)}/rooms`, {
        kind: 'direct',
        member_ids: providers.map((p) => p.user_id),
      });
      await this.load();
      await this.open(room.id);
    } catch (e) {
      if (e.code === 'direct_thread_exists') {
        await this.load();
        const found = this.rooms.find((r) => r.kind === 'direct' && r.org_id === orgId);
        if (found) return this.open(found.id);
      }
      this.#error(e);
    } finally {
      $('new-thread-start').disabled = false;
    }
  }

  #error(e) {
    $('threads-error').textContent = explain(e);
    $('threads-error').hidden = false;
  }
}
