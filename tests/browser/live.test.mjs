// Unit tests of web/js/live.js (the protocol client) against a scripted fake
// WebSocket: no browser, no server. Run: node --test tests/browser/
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { LiveClient, backoffDelay, newClientId } from '../../web/js/live.js';
import { FakeSocket, tick } from './fake-socket.mjs';

const clients = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.stop();
  FakeSocket.all = [];
});

function client(opts = {}) {
  const tokens = [];
  const c = new LiveClient({
    url: 'ws://hub.test/ws',
    WebSocket: FakeSocket,
    getToken: async ({ force }) => {
      tokens.push(force);
      return force ? 'fresh-token' : 'token';
    },
    backoff: { initial: 2, max: 10 },
    requestTimeoutMs: 2000,
    ...opts,
  });
  const seen = { event: [], reset: [], presence: [], state: [], authfailed: [], removed: [], receipt: [], typing: [] };
  for (const type of Object.keys(seen)) c.addEventListener(type, (e) => seen[type].push(e.detail));
  clients.push(c);
  return { c, seen, tokens };
}

/** Starts a client and completes the auth handshake on its newest socket. */
async function connected(c) {
  if (c.stopped) c.start();
  await tick(1);
  const ws = FakeSocket.all.at(-1);
  const auth = await ws.next('auth');
  ws.reply(auth, { protocol: 1, user_id: 'u-me', token_expires_at: '2030-01-01T00:00:00Z', limits: {} });
  await tick(1);
  return ws;
}

const ev = (offset, extra = {}) => ({
  type: 'event',
  room: 'r1',
  epoch: 'e1',
  offset,
  kind: 'message',
  id: `m${offset}`,
  message_id: `m${offset}`,
  sender_id: 'u-other',
  body: `body ${offset}`,
  created_at: '2026-01-01T00:00:00.000Z',
  ...extra,
});

async function subscribed(c, ws, { offset = 3, presence = ['u-me'] } = {}) {
  const done = c.subscribe('r1');
  const sub = await ws.next('subscribe');
  ws.reply(sub, { room: 'r1', epoch: 'e1', offset, presence });
  await done;
  return sub;
}

test('the first frame is auth with the token, on the healthbridge.v1 subprotocol', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  assert.equal(ws.protocol, 'healthbridge.v1');
  assert.equal(ws.sent[0].type, 'auth');
  assert.equal(ws.sent[0].token, 'token');
  assert.equal(c.state, 'open');
  assert.deepEqual(
    seen.state.map((s) => s.state),
    ['connecting', 'open'],
  );
});

test('replies are matched to requests by id, errors reject with their code', async () => {
  const { c } = client();
  const ws = await connected(c);
  const a = c.request('ping');
  const b = c.request('presence', { room: 'r1' });
  const [pa, pb] = [await ws.next('ping'), await ws.next('presence')];
  assert.notEqual(pa.id, pb.id);
  ws.fail(pb, 'not_subscribed');
  ws.reply(pa, {});
  assert.deepEqual(await a, {});
  await assert.rejects(b, (e) => e.code === 'not_subscribed');
});

test('a first subscribe resets the room to the reply position and keeps presence', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  const sub = await subscribed(c, ws, { offset: 7, presence: ['u-me', 'u-other'] });
  assert.equal(sub.since, undefined);
  assert.deepEqual(seen.reset, [{ room: 'r1', epoch: 'e1', offset: 7, reason: 'initial' }]);
  assert.deepEqual(c.position('r1'), { epoch: 'e1', offset: 7 });
  assert.deepEqual(seen.presence.at(-1), { room: 'r1', users: ['u-me', 'u-other'] });
  ws.push({ type: 'presence', room: 'r1', user_id: 'u-other', status: 'offline' });
  assert.deepEqual(seen.presence.at(-1).users, ['u-me']);
});

test('events at or below the held offset are duplicates and ignored', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  await subscribed(c, ws, { offset: 3 });
  for (const o of [2, 3, 4, 4, 5, 5, 3]) ws.push(ev(o));
  assert.deepEqual(
    seen.event.map((e) => e.offset),
    [4, 5],
  );
  assert.equal(c.position('r1').offset, 5);
});

test('events pushed while the subscribe is pending are applied after its reply', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  const done = c.subscribe('r1');
  const sub = await ws.next('subscribe');
  ws.push(ev(3));
  ws.push(ev(4));
  ws.reply(sub, { room: 'r1', epoch: 'e1', offset: 3, presence: [] });
  await done;
  assert.deepEqual(
    seen.event.map((e) => e.offset),
    [4],
  );
});

test('a gap drops the socket and recovers with since after a reconnect', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  await subscribed(c, ws, { offset: 3 });
  ws.push(ev(4));
  ws.push(ev(6)); // 5 is missing
  assert.equal(ws.closed?.code, 4000);
  await tick(20);
  const ws2 = await connected(c);
  const sub = await ws2.next('subscribe');
  assert.deepEqual(sub.since, { epoch: 'e1', offset: 4 });
  ws2.reply(sub, {
    room: 'r1',
    epoch: 'e1',
    offset: 6,
    recovered: true,
    missed: [ev(5), ev(6)],
    presence: [],
  });
  await tick(1);
  assert.deepEqual(
    seen.event.map((e) => e.offset),
    [4, 5, 6],
  );
  assert.equal(seen.reset.length, 1, 'a complete recovery needs no history reload');
});

test('after a dropped connection it reconnects with backoff and subscribes with since', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  await subscribed(c, ws, { offset: 3 });
  ws.push(ev(4));
  ws.drop(1006);
  assert.equal(c.state, 'reconnecting');
  assert.ok(seen.state.at(-1).delay >= 1 && seen.state.at(-1).delay <= 2);
  await tick(20);
  const ws2 = await connected(c);
  const sub = await ws2.next('subscribe');
  assert.deepEqual(sub.since, { epoch: 'e1', offset: 4 });
  ws2.reply(sub, { room: 'r1', epoch: 'e1', offset: 4, recovered: true, missed: [], presence: [] });
  await tick(1);
  ws2.push(ev(5));
  assert.deepEqual(
    seen.event.map((e) => e.offset),
    [4, 5],
  );
});

test('recovered:false asks the page to reload history and takes the new position', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  await subscribed(c, ws, { offset: 3 });
  ws.drop(1001);
  await tick(20);
  const ws2 = await connected(c);
  const sub = await ws2.next('subscribe');
  ws2.reply(sub, { room: 'r1', epoch: 'e2', offset: 40, recovered: false, reason: 'epoch_changed', presence: [] });
  await tick(1);
  assert.deepEqual(seen.reset.at(-1), { room: 'r1', epoch: 'e2', offset: 40, reason: 'epoch_changed' });
  ws2.push(ev(41, { epoch: 'e2' }));
  assert.equal(seen.event.at(-1).offset, 41);
});

test('resync re-subscribes without since and reports why', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  await subscribed(c, ws, { offset: 3 });
  ws.push({ type: 'resync', room: 'r1', reason: 'epoch_changed' });
  const unsub = await ws.next('unsubscribe');
  ws.fail(unsub, 'not_subscribed');
  const sub = await ws.next('subscribe');
  assert.equal(sub.since, undefined);
  ws.reply(sub, { room: 'r1', epoch: 'e9', offset: 0, presence: [] });
  await tick(1);
  assert.deepEqual(seen.reset.at(-1), { room: 'r1', epoch: 'e9', offset: 0, reason: 'epoch_changed' });
});

test('a publish without an answer is re-sent with the same client_id after a reconnect', async () => {
  const { c } = client();
  const ws = await connected(c);
  await subscribed(c, ws, { offset: 3 });
  const sent = c.publish('r1', 'BP stable', 'c-test-1');
  const p1 = await ws.next('publish');
  assert.equal(p1.client_id, 'c-test-1');
  ws.drop(1006);
  await tick(20);
  const ws2 = await connected(c);
  const sub = await ws2.next('subscribe');
  ws2.reply(sub, { room: 'r1', epoch: 'e1', offset: 4, recovered: true, missed: [ev(4, { sender_id: 'u-me', client_id: 'c-test-1' })], presence: [] });
  const p2 = await ws2.next('publish');
  assert.equal(p2.client_id, 'c-test-1');
  assert.equal(p2.body, 'BP stable');
  ws2.reply(p2, { duplicate: true, event: ev(4, { sender_id: 'u-me', client_id: 'c-test-1' }) });
  const result = await sent;
  assert.equal(result.duplicate, true);
});

test('a refused publish rejects with the server code and is not retried', async () => {
  const { c } = client();
  const ws = await connected(c);
  await subscribed(c, ws);
  const sent = c.publish('r1', 'x'.repeat(5000));
  ws.fail(await ws.next('publish'), 'invalid_body');
  await assert.rejects(sent, (e) => e.code === 'invalid_body');
  assert.equal(c.outbox.size, 0);
});

test('4002 refreshes the token before reconnecting', async () => {
  const { c, tokens } = client();
  const ws = await connected(c);
  ws.drop(4002);
  await tick(20);
  const ws2 = FakeSocket.all.at(-1);
  assert.notEqual(ws2, ws);
  const auth = await ws2.next('auth');
  assert.equal(auth.token, 'fresh-token');
  assert.deepEqual(tokens, [false, true]);
});

test('4003 stops the client and asks for a new login', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  ws.drop(4003);
  await tick(20);
  assert.equal(FakeSocket.all.length, 1, 'no reconnect');
  assert.equal(c.state, 'closed');
  assert.deepEqual(
    seen.authfailed.map((a) => a.code),
    [4003],
  );
});

test('4001 retries once with a refreshed token, then gives up', async () => {
  const { c, seen, tokens } = client();
  c.start();
  await tick(1);
  FakeSocket.all[0].drop(4001);
  await tick(20);
  assert.equal(FakeSocket.all.length, 2);
  await FakeSocket.all[1].next('auth');
  FakeSocket.all[1].drop(4001);
  await tick(20);
  assert.equal(FakeSocket.all.length, 2);
  assert.deepEqual(tokens, [false, true]);
  assert.deepEqual(
    seen.authfailed.map((a) => a.code),
    [4001],
  );
});

test('the refresh frame carries the new token', async () => {
  const { c } = client();
  const ws = await connected(c);
  const done = c.refresh('new-access');
  const frame = await ws.next('refresh');
  assert.equal(frame.token, 'new-access');
  ws.reply(frame, { token_expires_at: '2030-01-01T00:15:00Z' });
  assert.deepEqual(await done, { token_expires_at: '2030-01-01T00:15:00Z' });
});

test('an unsubscribed push forgets the room', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  await subscribed(c, ws);
  ws.push({ type: 'unsubscribed', room: 'r1', reason: 'removed' });
  assert.deepEqual(seen.removed, [{ room: 'r1', reason: 'removed' }]);
  assert.equal(c.position('r1'), null);
  ws.push(ev(4));
  assert.equal(seen.event.length, 0);
});

test('receipts and typing are passed on', async () => {
  const { c, seen } = client();
  const ws = await connected(c);
  await subscribed(c, ws);
  ws.push({ type: 'receipt', room: 'r1', user_id: 'u-other', offset: 3 });
  ws.push({ type: 'typing', room: 'r1', user_id: 'u-other' });
  ws.push({ type: 'typing', room: 'r-unknown', user_id: 'u-other' });
  assert.deepEqual(seen.receipt, [{ room: 'r1', user_id: 'u-other', offset: 3 }]);
  assert.deepEqual(seen.typing, [{ room: 'r1', user_id: 'u-other' }]);
});

test('backoff grows from 0.5 s to 15 s with jitter', () => {
  const lo = () => 0;
  const hi = () => 1;
  assert.equal(backoffDelay(0, { random: hi }), 500);
  assert.equal(backoffDelay(0, { random: lo }), 250);
  assert.equal(backoffDelay(1, { random: hi }), 1000);
  assert.equal(backoffDelay(2, { random: hi }), 2000);
  assert.equal(backoffDelay(10, { random: hi }), 15000);
  assert.equal(backoffDelay(100, { random: lo }), 7500);
});

test('client ids have the allowed form and are unique', () => {
  const ids = new Set(Array.from({ length: 100 }, () => newClientId()));
  assert.equal(ids.size, 100);
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_.:-]{1,64}$/);
});

test('with userEvents on, every connection asks for notifications and emits user events', async () => {
  const { c } = client();
  c.userEvents = true;
  const events = [];
  c.addEventListener('userevent', (e) => events.push(e.detail));
  const ws = await connected(c);
  ws.reply(await ws.next('notifications'), {});
  ws.push({ type: 'user_event', kind: 'notification', payload: { title: 'Appointment confirmed' } });
  assert.deepEqual(events, [{ kind: 'notification', payload: { title: 'Appointment confirmed' } }]);
  ws.drop();
  await tick(20);
  const again = FakeSocket.all.at(-1);
  assert.notEqual(again, ws);
  const auth = await again.next('auth');
  again.reply(auth, { protocol: 1, user_id: 'u-me', token_expires_at: '2030-01-01T00:00:00Z', limits: {} });
  await again.next('notifications');
});

test('a monitor watch is asked for on every connection and its pushes are delivered', async () => {
  const { c } = client();
  const snapshots = [];
  const ended = [];
  const refused = [];
  c.addEventListener('monitor', (e) => snapshots.push(e.detail));
  c.addEventListener('monitorended', (e) => ended.push(e.detail));
  c.addEventListener('monitorerror', (e) => refused.push(e.detail.error.code));
  assert.equal(await c.monitor('org-1'), null, 'not connected yet: asked once open');
  const ws = await connected(c);
  const asked = await ws.next('monitor');
  assert.equal(asked.org, 'org-1');
  ws.reply(asked, { scope: { org: 'org-1' }, every_secs: 2 });
  ws.push({ type: 'monitor', scope: { org: 'org-1' }, nodes: [] });
  assert.equal(snapshots.length, 1);
  assert.deepEqual(snapshots[0].scope, { org: 'org-1' });

  // Re-scoped to everything (a platform admin): no `org` field is sent.
  const all = c.monitor(null);
  const rescoped = await ws.next('monitor');
  assert.equal('org' in rescoped, false);
  ws.reply(rescoped, { scope: { org: null }, every_secs: 2 });
  await all;

  // After a reconnect the watch is asked for again; a refusal is reported.
  ws.drop();
  await tick(20);
  const again = FakeSocket.all.at(-1);
  again.reply(await again.next('auth'), { protocol: 1, user_id: 'u-me', token_expires_at: '2030-01-01T00:00:00Z', limits: {} });
  again.fail(await again.next('monitor'), 'forbidden');
  await tick(1);
  assert.deepEqual(refused, ['forbidden']);

  // The server ends the watch: the client forgets it and does not ask again.
  again.push({ type: 'monitor_ended', reason: 'access_ended' });
  assert.deepEqual(ended, [{ reason: 'access_ended' }]);
  assert.equal(c.monitorScope, null);
});
