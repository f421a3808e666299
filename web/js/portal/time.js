// Times as a patient reads them, in their own time zone, and the clock of a
// video visit's door: "Opens at 10:30 (in 25 minutes)", "Join", "This visit
// has ended". Pure functions (no DOM, no Date.now inside): unit-tested by
// tests/browser/portal.test.mjs.

import { untilText } from '../messages.js';

/** The browser's zone, or UTC when it has none. */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** A zone `Intl` accepts: `zone` if valid, else the browser's. */
export function usableZone(zone) {
  if (typeof zone === 'string' && zone) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return zone;
    } catch {
      /* unknown to this browser */
    }
  }
  return browserZone();
}

/** "10:30" in `zone`. */
export function clockTime(iso, zone, locale) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', timeZone: zone });
}

/** The calendar day of an instant in `zone`, as `YYYY-MM-DD` (for comparing days). */
export function dayKey(iso, zone) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleDateString('en-CA', { timeZone: zone });
}

/** "Monday 3 March" in `zone`; "Today" / "Tomorrow" when it is. */
export function dayText(iso, zone, now, locale) {
  const key = dayKey(iso, zone);
  if (key === dayKey(now.toISOString(), zone)) return 'Today';
  if (key === dayKey(new Date(now.getTime() + 86_400_000).toISOString(), zone)) return 'Tomorrow';
  const d = new Date(iso);
  const sameYear = dayKey(iso, zone).slice(0, 4) === dayKey(now.toISOString(), zone).slice(0, 4);
  return d.toLocaleDateString(locale, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: sameYear ? undefined : 'numeric',
    timeZone: zone,
  });
}

/** "Today, 10:30 – 11:00" in `zone`. */
export function slotText(startIso, endIso, zone, now, locale) {
  const end = endIso ? ` – ${clockTime(endIso, zone, locale)}` : '';
  return `${dayText(startIso, zone, now, locale)}, ${clockTime(startIso, zone, locale)}${end}`;
}

/** States of a video visit that are over. */
const OVER = new Set(['ended', 'no_show', 'cancelled']);

/**
 * Where the door of a video appointment stands at `now`:
 * - `{state: 'none'}`: not a video appointment, or a cancelled appointment;
 * - `{state: 'ended', text}`: the visit is over, or the appointment's time has passed;
 * - `{state: 'before', text, opensInMs}`: "Opens at 10:30 (in 25 minutes)";
 * - `{state: 'open', text}`: joinable now.
 */
export function visitDoor(appointment, now, zone, locale) {
  if (!appointment?.visit_id || appointment.status !== 'booked') return { state: 'none' };
  if (OVER.has(appointment.visit_state)) return { state: 'ended', text: 'This visit has ended' };
  const live = appointment.visit_state === 'live' || appointment.visit_state === 'waiting';
  const end = Date.parse(appointment.ends_at);
  if (!live && Number.isFinite(end) && now.getTime() >= end) {
    return { state: 'ended', text: 'This visit has ended' };
  }
  const opens = Date.parse(appointment.opens_at ?? appointment.starts_at);
  const wait = opens - now.getTime();
  if (!live && Number.isFinite(wait) && wait > 0) {
    return {
      state: 'before',
      opensInMs: wait,
      text: `Opens at ${clockTime(appointment.opens_at, zone, locale)} (${untilText(wait)})`,
    };
  }
  return { state: 'open', text: 'The visit is open' };
}

/** Milliseconds until the door text next changes (a minute boundary, or the opening). */
export function nextTick(door, now) {
  if (door.state !== 'before') return 60_000;
  const toMinute = 60_000 - (now.getTime() % 60_000);
  return Math.max(250, Math.min(toMinute, door.opensInMs));
}

/** Splits appointments into upcoming (earliest first) and past (latest first). */
export function splitByTime(appointments, now) {
  const t = now.getTime();
  const upcoming = [];
  const past = [];
  for (const a of appointments) {
    const end = Date.parse(a.ends_at);
    const live = a.visit_state === 'live' || a.visit_state === 'waiting';
    if (a.status === 'booked' && (end > t || live)) upcoming.push(a);
    else if (end <= t || a.status !== 'booked') past.push(a);
  }
  upcoming.sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
  past.sort((a, b) => Date.parse(b.starts_at) - Date.parse(a.starts_at));
  return { upcoming, past };
}
