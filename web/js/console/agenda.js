// The day and week agenda of the clinician's own appointments (as provider),
// in their time zone, with "Previous" / "Today" / "Next". Patients' names and
// reasons are shown to their provider only (the list is audited server-side).

import { el } from '../dom.js';
import { explain } from '../messages.js';

const DAY_MS = 86_400_000;

export class Agenda {
  constructor(ctx, ui) {
    this.ctx = ctx;
    this.ui = ui;
    this.span = 'day';
    this.anchor = startOfDay(new Date(), ctx.zone);
    ui.day.addEventListener('click', () => this.setSpan('day'));
    ui.week.addEventListener('click', () => this.setSpan('week'));
    ui.prev.addEventListener('click', () => this.move(-1));
    ui.next.addEventListener('click', () => this.move(1));
    ui.today.addEventListener('click', () => {
      this.anchor = startOfDay(new Date(), ctx.zone);
      this.load();
    });
  }

  setSpan(span) {
    this.span = span;
    this.ui.day.setAttribute('aria-pressed', String(span === 'day'));
    this.ui.week.setAttribute('aria-pressed', String(span === 'week'));
    this.load();
  }

  move(step) {
    this.anchor = new Date(this.anchor.getTime() + step * (this.span === 'day' ? 1 : 7) * DAY_MS);
    this.load();
  }

  async load() {
    const days = this.span === 'day' ? 1 : 7;
    const from = this.anchor;
    const to = new Date(from.getTime() + days * DAY_MS);
    const fmt = (d, o) => d.toLocaleDateString(undefined, { timeZone: this.ctx.zone, ...o });
    this.ui.range.textContent =
      days === 1
        ? fmt(from, { weekday: 'long', day: 'numeric', month: 'long' })
        : `${fmt(from, { day: 'numeric', month: 'short' })} – ${fmt(new Date(to.getTime() - 1), { day: 'numeric', month: 'short' })}`;
    this.ui.status.textContent = 'Loading appointments…';
    try {
      const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
      const all = await this.ctx.session.get(`/api/v1/appointments?${q}`);
      const mine = all.filter((a) => a.provider_id === this.ctx.me.id && a.status === 'booked');
      this.render(mine, from, days);
      this.ui.status.textContent = mine.length ? '' : 'No appointments in this period.';
    } catch (e) {
      this.ui.status.textContent = `Could not load your appointments. ${explain(e)}`;
    }
  }

  render(list, from, days) {
    const zone = this.ctx.zone;
    const groups = [];
    for (let i = 0; i < days; i += 1) {
      const day = new Date(from.getTime() + i * DAY_MS);
      const key = day.toLocaleDateString('en-CA', { timeZone: zone });
      const items = list.filter((a) => new Date(a.starts_at).toLocaleDateString('en-CA', { timeZone: zone }) === key);
      if (days > 1 && !items.length) continue;
      const heading = day.toLocaleDateString(undefined, { timeZone: zone, weekday: 'long', day: 'numeric', month: 'long' });
      groups.push(
        el('li', { class: 'agenda-day' }, [
          el('h3', {}, heading),
          el('ul', { class: 'plain' }, items.map((a) => this.item(a))),
        ]),
      );
    }
    this.ui.list.replaceChildren(...groups);
  }

  item(a) {
    const time = (iso) => new Date(iso).toLocaleTimeString(undefined, { timeZone: this.ctx.zone, hour: '2-digit', minute: '2-digit' });
    return el('li', { class: 'agenda-item', 'data-appointment-id': a.id }, [
      el('strong', {}, `${time(a.starts_at)}–${time(a.ends_at)}`),
      ` ${a.patient_name} · ${a.type_name} (${a.mode === 'video' ? 'video' : 'in person'}) · ${a.org_name}`,
      a.reason ? el('p', { class: 'hint' }, `Reason: ${a.reason}`) : null,
      a.visit_id ? el('p', {}, el('a', { href: `/web/visits.html#visit=${encodeURIComponent(a.visit_id)}` }, 'Open the video visit')) : null,
    ]);
  }
}

/** Midnight of `date`'s day in `zone`, as an instant. */
export function startOfDay(date, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  const sinceMidnight = ((Number(parts.hour) * 60 + Number(parts.minute)) * 60 + Number(parts.second)) * 1000;
  return new Date(Math.floor(date.getTime() / 1000) * 1000 - sinceMidnight);
}
