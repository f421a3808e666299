// The booking panel: choose a clinic, a provider and a type of appointment,
// see the free times of the next two weeks in your own time zone, book one.
// The same form moves an existing appointment (reschedule): the provider and
// type stay, a reason is asked for.

import { el } from '../dom.js';
import { explain } from '../messages.js';
import { dayKey, dayText, clockTime, slotText } from './time.js';

const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;
/** How many days one search covers. */
const SEARCH_DAYS = 14;

export class Booking {
  constructor(ctx) {
    this.ctx = ctx;
    this.providers = new Map(); // org id -> [ProviderView]
    this.moving = null; // the appointment being rescheduled
    this.searchFrom = null;
    this.onBooked = () => {};
    $('book-org').addEventListener('change', () => this.#orgChanged());
    $('book-provider').addEventListener('change', () => this.#fillTypes());
    $('book-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.search(this.#fromDate());
    });
    $('book-later').addEventListener('click', () => this.search(new Date(this.searchFrom.getTime() + SEARCH_DAYS * DAY_MS)));
    $('slots-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.#submit();
    });
  }

  async load() {
    const orgs = this.ctx.orgs ?? [];
    $('book-org').replaceChildren(...orgs.map((o) => el('option', { value: o.org_id }, o.org_name)));
    $('book-org-field').hidden = orgs.length < 2;
    $('book-from').value = dayKey(new Date().toISOString(), this.ctx.zone);
    if (!orgs.length) {
      $('book-intro').textContent = 'You are not yet a patient of a clinic. When a clinic adds you, you can book here.';
      $('book-form').hidden = true;
      return;
    }
    await this.#orgChanged();
  }

  async #orgChanged() {
    const org = $('book-org').value;
    if (!this.providers.has(org)) {
      try {
        this.providers.set(org, await this.ctx.session.get(`/api/v1/orgs/${encodeURIComponent(org)}/providers`));
      } catch (e) {
        this.#error(`The clinic's providers could not be loaded. ${explain(e)}`);
        return;
      }
    }
    const list = this.providers.get(org);
    $('book-provider').replaceChildren(...list.map((p) => el('option', { value: p.user_id }, p.display_name)));
    $('find-slots').disabled = list.length === 0;
    $('book-intro').textContent = list.length
      ? 'Choose who you want to see and the kind of appointment, then a free time.'
      : 'This clinic has no providers you can book online yet. Please call the clinic.';
    this.#fillTypes();
  }

  #fillTypes() {
    const provider = this.#provider();
    const types = provider?.appointment_types ?? [];
    $('book-type').replaceChildren(
      ...types.map((t) =>
        el('option', { value: t.id }, `${t.name} (${t.duration_min} min, ${t.mode === 'video' ? 'video' : 'in person'})`),
      ),
    );
    $('slots-form').hidden = true;
  }

  #provider() {
    return (this.providers.get($('book-org').value) ?? []).find((p) => p.user_id === $('book-provider').value);
  }

  #fromDate() {
    const value = $('book-from').value;
    const today = new Date();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return today;
    const day = new Date(`${value}T00:00:00Z`);
    return day < today ? today : day;
  }

  /** Moves `appointment` to a new time: the form keeps its clinic, provider and type. */
  async reschedule(appointment) {
    this.moving = appointment;
    $('book-title').textContent = 'Reschedule your appointment';
    $('book-intro').textContent = `Moving ${appointment.type_name} with ${appointment.provider_name}, ${slotText(
      appointment.starts_at,
      appointment.ends_at,
      this.ctx.zone,
      new Date(),
      this.ctx.locale,
    )}. Choose a new time.`;
    $('book-org').value = appointment.org_id;
    await this.#orgChanged();
    $('book-provider').value = appointment.provider_id;
    this.#fillTypes();
    $('book-type').value = appointment.type_id;
    for (const id of ['book-org', 'book-provider', 'book-type']) $(id).disabled = true;
    $('book-reason').previousElementSibling.textContent = 'Why are you moving it?';
    $('book-reason').required = true;
    $('book-submit').textContent = 'Move to this time';
    $('book-done').hidden = true;
    await this.search(new Date());
  }

  #endReschedule() {
    this.moving = null;
    $('book-title').textContent = 'Book an appointment';
    for (const id of ['book-org', 'book-provider', 'book-type']) $(id).disabled = false;
    const label = $('book-reason').previousElementSibling;
    label.replaceChildren('Reason for the visit ', el('span', { class: 'hint' }, '(optional)'));
    $('book-reason').required = false;
    $('book-submit').textContent = 'Book this time';
  }

  async search(from) {
    const provider = this.#provider();
    const type = $('book-type').value;
    if (!provider || !type) return;
    this.searchFrom = from;
    $('book-error').hidden = true;
    const q = new URLSearchParams({
      provider_id: provider.user_id,
      type_id: type,
      from: from.toISOString(),
      to: new Date(from.getTime() + SEARCH_DAYS * DAY_MS).toISOString(),
    });
    let answer;
    try {
      answer = await this.ctx.session.get(`/api/v1/orgs/${encodeURIComponent($('book-org').value)}/slots?${q}`);
    } catch (e) {
      this.#error(explain(e, { not_found: 'This provider has no opening hours yet.' }));
      return;
    }
    this.#renderSlots(answer.slots ?? []);
  }

  #renderSlots(slots) {
    const { zone, locale } = this.ctx;
    const now = new Date();
    const groups = new Map();
    for (const s of slots) {
      const key = dayKey(s.starts_at, zone);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(s);
    }
    const days = [...groups.values()].map((daySlots, i) =>
      el('fieldset', { class: 'slot-day' }, [
        el('legend', {}, dayText(daySlots[0].starts_at, zone, now, locale)),
        el(
          'div',
          { class: 'slot-times' },
          daySlots.map((s, j) =>
            el('label', { class: 'slot' }, [
              el('input', { type: 'radio', name: 'slot', value: s.starts_at, required: true, checked: i === 0 && j === 0 }),
              clockTime(s.starts_at, zone, locale),
            ]),
          ),
        ),
      ]),
    );
    $('slots').replaceChildren(...days);
    $('slots-empty').hidden = slots.length > 0;
    $('book-submit').disabled = slots.length === 0;
    $('slots-form').hidden = false;
    $('book-done').hidden = true;
    this.ctx.announce(slots.length ? `${slots.length} free times found.` : 'No free times found.');
  }

  async #submit() {
    const chosen = $('slots-form').querySelector('input[name="slot"]:checked');
    if (!chosen) return this.#error('Choose a time first.');
    const reason = $('book-reason').value.trim();
    if (this.moving && !reason) {
      this.#error('Please say why you are moving the appointment.');
      $('book-reason').focus();
      return;
    }
    const org = $('book-org').value;
    $('book-submit').disabled = true;
    try {
      let booked;
      if (this.moving) {
        const path = `/api/v1/orgs/${encodeURIComponent(org)}/appointments/${encodeURIComponent(this.moving.id)}/reschedule`;
        booked = await this.ctx.session.post(path, { starts_at: chosen.value, reason });
      } else {
        const body = { provider_id: $('book-provider').value, type_id: $('book-type').value, starts_at: chosen.value };
        if (reason) body.reason = reason;
        booked = await this.ctx.session.post(`/api/v1/orgs/${encodeURIComponent(org)}/appointments`, body);
      }
      this.#done(booked, !!this.moving);
    } catch (e) {
      this.#error(explain(e));
      if (e.code === 'slot_taken') this.search(this.searchFrom);
    } finally {
      $('book-submit').disabled = false;
    }
  }

  #done(booked, moved) {
    const provider = this.#provider();
    const when = slotText(booked.starts_at, booked.ends_at, this.ctx.zone, new Date(), this.ctx.locale);
    const text = `${moved ? 'Moved' : 'Booked'}: ${when} with ${provider?.display_name ?? 'your provider'}. A confirmation is on its way.`;
    this.#endReschedule();
    $('slots-form').hidden = true;
    $('book-reason').value = '';
    const done = $('book-done');
    done.replaceChildren(el('p', {}, text), el('p', {}, el('a', { href: '#appointments' }, 'See your appointments')));
    done.hidden = false;
    done.focus();
    this.onBooked(booked);
  }

  #error(text) {
    $('book-error').textContent = text;
    $('book-error').hidden = false;
  }
}
