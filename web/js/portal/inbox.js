// The notification inbox: the patient's in-app notices (GET /me/notifications,
// in words: "Appointment confirmed"), newest first, and new ones as they
// arrive on the socket (`user_event` kind `notification`). Never an event
// name, never an epoch number.

import { el } from '../dom.js';
import { explain } from '../messages.js';
import { slotText } from './time.js';

const $ = (id) => document.getElementById(id);
/** Notices that reached the reader (a queued reminder is not shown before its time). */
const SHOWN = new Set(['sent', 'delivered']);

export class Inbox {
  constructor(ctx) {
    this.ctx = ctx;
    this.items = [];
    this.unseen = 0;
  }

  async load() {
    try {
      const all = await this.ctx.session.get('/api/v1/me/notifications');
      this.items = all.filter((n) => n.delivery === 'in_app' && SHOWN.has(n.status));
    } catch (e) {
      $('inbox-empty').textContent = `Your notifications could not be loaded. ${explain(e)}`;
      $('inbox-empty').hidden = false;
      return;
    }
    this.render();
  }

  /** A notice pushed live: `{id, category, template, title, body, created_at}`. */
  onNotice(notice) {
    if (!notice?.id || this.items.some((n) => n.id === notice.id)) return;
    const created = typeof notice.created_at === 'number' ? new Date(notice.created_at).toISOString() : notice.created_at;
    this.items.unshift({ ...notice, created_at: created });
    if ($('notifications').hidden) this.unseen += 1;
    this.render();
    this.ctx.announce(`${notice.title}. ${notice.body ?? ''}`);
  }

  markSeen() {
    this.unseen = 0;
    this.#badge();
  }

  render() {
    const now = new Date();
    $('inbox').replaceChildren(
      ...this.items.map((n) =>
        el('li', { class: 'inbox-item', 'data-notification': n.id, 'data-category': n.category }, [
          el('p', { class: 'inbox-title' }, n.title),
          n.body ? el('p', { class: 'inbox-body' }, n.body) : null,
          el('p', { class: 'inbox-when hint' }, slotText(n.created_at, null, this.ctx.zone, now, this.ctx.locale)),
        ]),
      ),
    );
    $('inbox-empty').hidden = this.items.length > 0;
    this.#badge();
  }

  #badge() {
    $('inbox-unread').hidden = this.unseen === 0;
    $('inbox-unread').replaceChildren(String(this.unseen), el('span', { class: 'visually-hidden' }, ' new'));
  }
}
