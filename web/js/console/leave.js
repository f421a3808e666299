// The clinician's leave and holidays in one organization: the list of those
// still ahead, adding one (from a start to an end, with a reason), taking one back.

import { el, formatTime } from '../dom.js';
import { explain } from '../messages.js';

export class Leave {
  constructor(ctx, ui) {
    this.ctx = ctx;
    this.ui = ui;
    ui.form.addEventListener('submit', (e) => this.add(e));
  }

  path(orgId) {
    return `/api/v1/orgs/${orgId}/providers/${this.ctx.me.id}/exceptions`;
  }

  async load(orgId) {
    this.orgId = orgId;
    try {
      const list = await this.ctx.session.get(this.path(orgId));
      this.ui.list.replaceChildren(...list.map((x) => this.item(x)));
      this.ui.empty.hidden = list.length > 0;
    } catch (e) {
      this.ui.status.textContent = explain(e);
    }
  }

  item(x) {
    const remove = el('button', { type: 'button', class: 'button small' }, ['Take back', el('span', { class: 'visually-hidden' }, ` leave from ${formatTime(x.starts_at)}`)]);
    remove.addEventListener('click', async () => {
      if (!window.confirm('Take back this leave? Patients can book this time again.')) return;
      try {
        await this.ctx.session.del(`${this.path(this.orgId)}/${x.id}`);
        this.ui.status.textContent = 'Leave taken back.';
        await this.load(this.orgId);
      } catch (e) {
        this.ui.status.textContent = explain(e);
      }
    });
    return el('li', { 'data-exception-id': x.id }, [`${formatTime(x.starts_at)} – ${formatTime(x.ends_at)}: ${x.reason} `, remove]);
  }

  async add(e) {
    e.preventDefault();
    const { start, end, reason } = this.ui;
    const at = (input) => (input.value ? new Date(input.value).toISOString() : '');
    try {
      await this.ctx.session.post(this.path(this.orgId), { starts_at: at(start), ends_at: at(end), reason: reason.value.trim() });
      this.ui.status.textContent = 'Leave added. New bookings in that time are refused; booked appointments stay.';
      reason.value = '';
      await this.load(this.orgId);
    } catch (err) {
      this.ui.status.textContent = explain(err, {
        invalid_time: 'Choose when the leave starts and ends.',
        invalid_range: 'The end must come after the start, within a year.',
        invalid_reason: 'Give a short reason (up to 200 characters).',
      });
    }
  }
}
