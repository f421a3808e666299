// The appointments panel: upcoming (with the video visit's door: "Opens at
// 10:30 (in 25 minutes)", then "Join video visit", then "This visit has
// ended") and past or cancelled ones; cancel with a confirmation and a reason;
// reschedule hands over to the booking panel.

import { el } from '../dom.js';
import { explain } from '../messages.js';
import { nextTick, slotText, splitByTime, visitDoor } from './time.js';

const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;
/** How far back "past appointments" go. */
const PAST_DAYS = 365;

export class Appointments {
  constructor(ctx) {
    this.ctx = ctx;
    this.list = [];
    this.timer = null;
    this.onReschedule = () => {};
    this.cancelling = null;
    $('appointments-zone').textContent = `Times are shown in ${ctx.zone.replace(/_/g, ' ')} time.`;
    $('cancel-keep').addEventListener('click', () => $('cancel-dialog').close());
    $('cancel-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.#confirmCancel();
    });
  }

  async load() {
    const from = new Date(Date.now() - PAST_DAYS * DAY_MS).toISOString();
    try {
      this.list = await this.ctx.session.get(`/api/v1/appointments?from=${encodeURIComponent(from)}`);
      $('appointments-error').hidden = true;
    } catch (e) {
      $('appointments-error').textContent = `Your appointments could not be loaded. ${explain(e)}`;
      $('appointments-error').hidden = false;
      return;
    }
    // Only appointments where this account is the patient belong in the portal.
    this.list = this.list.filter((a) => a.patient_id === this.ctx.me.id);
    this.render();
  }

  render() {
    clearTimeout(this.timer);
    const now = new Date();
    const { upcoming, past } = splitByTime(this.list, now);
    $('upcoming').replaceChildren(...upcoming.map((a) => this.#item(a, now, true)));
    $('upcoming-empty').hidden = upcoming.length > 0;
    $('past').replaceChildren(...past.map((a) => this.#item(a, now, false)));
    $('past-empty').hidden = past.length > 0;
    // The door texts change with the clock: re-render at the next change.
    const doors = upcoming.map((a) => visitDoor(a, now, this.ctx.zone, this.ctx.locale)).filter((d) => d.state !== 'none');
    if (doors.length) {
      const wait = Math.min(...doors.map((d) => nextTick(d, now)));
      this.timer = setTimeout(() => this.render(), wait);
    }
  }

  #item(a, now, upcoming) {
    const { zone, locale } = this.ctx;
    const when = slotText(a.starts_at, a.ends_at, zone, now, locale);
    const kind = a.mode === 'video' ? 'Video visit' : 'In person';
    const li = el('li', { class: 'appointment', 'data-appointment': a.id }, [
      el('p', { class: 'appointment-when' }, when),
      el('p', { class: 'appointment-what' }, `${a.type_name} with ${a.provider_name}`),
      el('p', { class: 'appointment-where hint' }, `${kind} · ${a.org_name}`),
    ]);
    if (a.status !== 'booked') {
      // A reschedule keeps the old appointment as cancelled; the new one names it.
      const movedTo = this.list.find((b) => b.rescheduled_from === a.id);
      const status = movedTo ? `Moved to ${slotText(movedTo.starts_at, null, zone, now, locale)}` : 'Cancelled';
      li.append(el('p', { class: 'appointment-status' }, status));
      return li;
    }
    if (!upcoming) {
      if (a.mode === 'video') li.append(el('p', { class: 'appointment-status' }, 'This visit has ended'));
      return li;
    }
    const door = visitDoor(a, now, zone, locale);
    const actions = el('div', { class: 'button-row' });
    if (door.state === 'open') {
      actions.append(
        el('a', { class: 'button primary join-visit', href: `/web/visit.html?id=${encodeURIComponent(a.visit_id)}` }, 'Join video visit'),
      );
    } else if (door.state !== 'none') {
      li.append(el('p', { class: `visit-door ${door.state}` }, door.text));
    }
    if (door.state !== 'ended') {
      const move = el('button', { type: 'button', class: 'button' }, ['Reschedule', el('span', { class: 'visually-hidden' }, ` ${when}`)]);
      move.addEventListener('click', () => this.onReschedule(a));
      const cancel = el('button', { type: 'button', class: 'button danger' }, ['Cancel', el('span', { class: 'visually-hidden' }, ` ${when}`)]);
      cancel.addEventListener('click', () => this.#askCancel(a, when));
      actions.append(move, cancel);
    }
    if (actions.childElementCount) li.append(actions);
    return li;
  }

  #askCancel(a, when) {
    this.cancelling = a;
    $('cancel-what').textContent = `${a.type_name} with ${a.provider_name}, ${when}.`;
    $('cancel-reason').value = '';
    $('cancel-error').hidden = true;
    $('cancel-dialog').showModal();
    $('cancel-reason').focus();
  }

  async #confirmCancel() {
    const a = this.cancelling;
    const reason = $('cancel-reason').value.trim();
    if (!reason) {
      $('cancel-error').textContent = 'Please say why, so the clinic knows.';
      $('cancel-error').hidden = false;
      $('cancel-reason').focus();
      return;
    }
    $('cancel-confirm').disabled = true;
    try {
      await this.ctx.session.post(
        `/api/v1/orgs/${encodeURIComponent(a.org_id)}/appointments/${encodeURIComponent(a.id)}/cancel`,
        { reason },
      );
      $('cancel-dialog').close();
      this.ctx.announce('Your appointment is cancelled.');
      await this.load();
      $('appointments-title').focus();
    } catch (e) {
      $('cancel-error').textContent = explain(e);
      $('cancel-error').hidden = false;
    } finally {
      $('cancel-confirm').disabled = false;
    }
  }
}
