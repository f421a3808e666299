// Editing the clinician's own weekly hours in one organization: rows of
// weekday, start and end, in an IANA time zone; saved with PUT .../availability.

import { el } from '../dom.js';
import { explain } from '../messages.js';

const DAYS = [
  ['mon', 'Monday'],
  ['tue', 'Tuesday'],
  ['wed', 'Wednesday'],
  ['thu', 'Thursday'],
  ['fri', 'Friday'],
  ['sat', 'Saturday'],
  ['sun', 'Sunday'],
];

export class Hours {
  constructor(ctx, ui) {
    this.ctx = ctx;
    this.ui = ui;
    this.seq = 0;
    ui.add.addEventListener('click', () => this.row({ weekday: this.nextDay(), start: '09:00', end: '17:00' }).querySelector('select').focus());
    ui.form.addEventListener('submit', (e) => this.save(e));
  }

  /** A new row starts on the day after the last row's (Monday first). */
  nextDay() {
    const last = [...this.ui.rows.querySelectorAll('select')].at(-1)?.value;
    const i = DAYS.findIndex(([v]) => v === last);
    return DAYS[(i + 1) % DAYS.length][0];
  }

  path(orgId) {
    return `/api/v1/orgs/${orgId}/providers/${this.ctx.me.id}/availability`;
  }

  async load(orgId) {
    this.orgId = orgId;
    this.ui.rows.replaceChildren();
    this.ui.status.textContent = '';
    let hours = { time_zone: this.ctx.zone, windows: [] };
    try {
      hours = await this.ctx.session.get(this.path(orgId));
    } catch (e) {
      if (e.status !== 404) this.ui.status.textContent = explain(e);
    }
    // No hours yet (an empty week): start from the clinician's own zone.
    this.ui.zone.value = hours.windows.length ? hours.time_zone : this.ctx.zone;
    for (const w of hours.windows) this.row(w);
    if (!hours.windows.length) this.ui.status.textContent = 'No weekly hours yet: patients cannot book you. Add your hours below.';
  }

  row(w) {
    const n = (this.seq += 1);
    const day = el('select', { id: `hours-day-${n}` }, DAYS.map(([v, label]) => el('option', { value: v, selected: v === w.weekday }, label)));
    const start = el('input', { id: `hours-start-${n}`, type: 'time', value: w.start, required: true });
    const end = el('input', { id: `hours-end-${n}`, type: 'time', value: w.end, required: true });
    const remove = el('button', { type: 'button', class: 'button small' }, ['Remove', el('span', { class: 'visually-hidden' }, ` hours row ${n}`)]);
    const li = el('li', { class: 'hours-row' }, [
      el('label', { for: day.id }, 'Day'), day,
      el('label', { for: start.id }, 'From'), start,
      el('label', { for: end.id }, 'To'), end,
      remove,
    ]);
    remove.addEventListener('click', () => li.remove());
    this.ui.rows.append(li);
    return li;
  }

  async save(e) {
    e.preventDefault();
    const windows = [...this.ui.rows.querySelectorAll('.hours-row')].map((li) => {
      const [day, start, end] = li.querySelectorAll('select, input');
      return { weekday: day.value, start: start.value.slice(0, 5), end: end.value.slice(0, 5) };
    });
    try {
      await this.ctx.session.put(this.path(this.orgId), { time_zone: this.ui.zone.value.trim(), windows });
      this.ui.status.textContent = 'Your weekly hours are saved.';
    } catch (err) {
      this.ui.status.textContent = explain(err, {
        invalid_window: 'Check the hours: each row needs a start before its end, and rows must not overlap.',
        invalid_time_zone: 'Enter a time zone such as Europe/Lisbon or America/New_York.',
      });
    }
  }
}
