// Unit tests of web/js/portal/time.js: times in the patient's zone and the
// clock of a video visit's door ("Opens at 10:30 (in 25 minutes)", open,
// "This visit has ended"). Node's own runner, no browser: `node --test portal.test.mjs`.

import test from 'node:test';
import assert from 'node:assert/strict';

import { clockTime, dayText, nextTick, slotText, splitByTime, usableZone, visitDoor } from '../../web/js/portal/time.js';

const ZONE = 'America/New_York';
const at = (iso) => new Date(iso);

/** A booked video appointment at 15:00 UTC (10:00 in New York in March), opening 30 min before. */
function video(extra = {}) {
  return {
    id: 'a1',
    status: 'booked',
    starts_at: '2027-03-15T15:00:00Z',
    ends_at: '2027-03-15T15:30:00Z',
    opens_at: '2027-03-15T14:30:00Z',
    visit_id: 'v1',
    visit_state: 'scheduled',
    ...extra,
  };
}

test('times are shown in the patient zone, not the browser one', () => {
  assert.equal(clockTime('2027-03-15T14:30:00Z', ZONE, 'en-GB'), '10:30');
  assert.equal(clockTime('2027-03-15T14:30:00Z', 'Europe/Lisbon', 'en-GB'), '14:30');
  assert.equal(clockTime('not a time', ZONE, 'en-GB'), '');
});

test('an unknown zone falls back to a usable one', () => {
  assert.equal(usableZone(ZONE), ZONE);
  const fallback = usableZone('Mars/Olympus_Mons');
  assert.doesNotThrow(() => new Intl.DateTimeFormat('en', { timeZone: fallback }));
});

test('days read as Today, Tomorrow or a date, in the zone', () => {
  const now = at('2027-03-15T12:00:00Z');
  assert.equal(dayText('2027-03-15T20:00:00Z', ZONE, now, 'en-GB'), 'Today');
  assert.equal(dayText('2027-03-16T13:00:00Z', ZONE, now, 'en-GB'), 'Tomorrow');
  // 02:00 UTC on the 16th is still the 15th in New York.
  assert.equal(dayText('2027-03-16T02:00:00Z', ZONE, now, 'en-GB'), 'Today');
  assert.match(dayText('2027-03-20T15:00:00Z', ZONE, now, 'en-GB'), /Saturday 20 March/);
  assert.equal(slotText('2027-03-15T15:00:00Z', '2027-03-15T15:30:00Z', ZONE, now, 'en-GB'), 'Today, 11:00 – 11:30');
});

test('before it opens the door says when, and how long from now', () => {
  const door = visitDoor(video(), at('2027-03-15T14:05:00Z'), ZONE, 'en-GB');
  assert.equal(door.state, 'before');
  assert.equal(door.text, 'Opens at 10:30 (in 25 minutes)');
  assert.equal(door.opensInMs, 25 * 60_000);
  const early = visitDoor(video(), at('2027-03-15T11:30:00Z'), ZONE, 'en-GB');
  assert.equal(early.text, 'Opens at 10:30 (in 3 hours)');
});

test('from the opening until the end the visit can be joined', () => {
  for (const now of ['2027-03-15T14:30:00Z', '2027-03-15T15:10:00Z']) {
    assert.equal(visitDoor(video(), at(now), ZONE).state, 'open', now);
  }
  // A live visit stays joinable past its booked end.
  assert.equal(visitDoor(video({ visit_state: 'live' }), at('2027-03-15T15:45:00Z'), ZONE).state, 'open');
});

test('after it, or once the visit is over, it has ended and is never joinable', () => {
  const after = visitDoor(video(), at('2027-03-15T15:30:00Z'), ZONE);
  assert.deepEqual(after, { state: 'ended', text: 'This visit has ended' });
  for (const state of ['ended', 'no_show', 'cancelled']) {
    const door = visitDoor(video({ visit_state: state }), at('2027-03-15T14:40:00Z'), ZONE);
    assert.equal(door.state, 'ended', state);
  }
});

test('in-person and cancelled appointments have no door', () => {
  assert.equal(visitDoor(video({ visit_id: null }), at('2027-03-15T14:40:00Z'), ZONE).state, 'none');
  assert.equal(visitDoor(video({ status: 'cancelled' }), at('2027-03-15T14:40:00Z'), ZONE).state, 'none');
});

test('the door text is refreshed at the next minute or at the opening, whichever is first', () => {
  const now = at('2027-03-15T14:05:20Z');
  const door = visitDoor(video(), now, ZONE);
  assert.equal(nextTick(door, now), 40_000);
  const last = at('2027-03-15T14:29:59.500Z');
  assert.equal(nextTick(visitDoor(video(), last, ZONE), last), 500);
  assert.equal(nextTick({ state: 'open' }, now), 60_000);
});

test('appointments split into upcoming (soonest first) and past or cancelled (latest first)', () => {
  const now = at('2027-03-15T12:00:00Z');
  const list = [
    video({ id: 'later', starts_at: '2027-03-20T15:00:00Z', ends_at: '2027-03-20T15:30:00Z' }),
    video({ id: 'soon' }),
    video({ id: 'gone', starts_at: '2027-03-01T15:00:00Z', ends_at: '2027-03-01T15:30:00Z' }),
    video({ id: 'cancelled', status: 'cancelled' }),
    video({ id: 'older', starts_at: '2027-02-01T15:00:00Z', ends_at: '2027-02-01T15:30:00Z' }),
  ];
  const { upcoming, past } = splitByTime(list, now);
  assert.deepEqual(upcoming.map((a) => a.id), ['soon', 'later']);
  assert.deepEqual(past.map((a) => a.id), ['cancelled', 'gone', 'older']);
});
