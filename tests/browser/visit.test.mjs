// Unit tests of web/js/visit-media.js (one participant's side of a video
// visit) against a scripted fake WebSocket and a fake RTCPeerConnection: no
// browser, no server. Run: node --test tests/browser/
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { LiveClient } from '../../web/js/live.js';
import { VisitSession, eventKind, quality, waitingQueue } from '../../web/js/visit-media.js';
import { FakeSocket, tick } from './fake-socket.mjs';

class FakeTrack extends EventTarget {
  constructor(kind, id = `${kind}-${Math.random().toString(36).slice(2, 8)}`) {
    super();
    this.kind = kind;
    this.id = id;
    this.enabled = true;
    this.readyState = 'live';
  }
}

class FakeStream extends EventTarget {
  constructor(id, tracks = []) {
    super();
    this.id = id;
    this.tracks = [...tracks];
  }

  getTracks() {
    return [...this.tracks];
  }

  getAudioTracks() {
    return this.tracks.filter((t) => t.kind === 'audio');
  }

  getVideoTracks() {
    return this.tracks.filter((t) => t.kind === 'video');
  }

  addTrack(t) {
    this.tracks.push(t);
  }

  removeTrack(t) {
    this.tracks = this.tracks.filter((x) => x !== t);
    const e = new Event('removetrack');
    e.track = t;
    this.dispatchEvent(e);
  }
}

/** An RTCPeerConnection that keeps the signaling state machine and records what happens. */
class FakePC extends EventTarget {
  static all = [];

  constructor(config) {
    super();
    this.config = config;
    this.transceivers = [];
    this.signalingState = 'stable';
    this.connectionState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    this.remoteCandidates = [];
    this.log = [];
    this.offers = 0;
    FakePC.all.push(this);
  }

  addTransceiver(trackOrKind, init) {
    const track = typeof trackOrKind === 'string' ? null : trackOrKind;
    const sender = {
      track,
      replaceTrack: async (t) => {
        sender.track = t;
      },
    };
    const t = { kind: track ? track.kind : trackOrKind, sender, init };
    this.transceivers.push(t);
    return t;
  }

  async createOffer() {
    this.offers += 1;
    return { type: 'offer', sdp: `client-offer-${this.offers}` };
  }

  async createAnswer() {
    if (this.signalingState !== 'have-remote-offer') throw new Error(`createAnswer in ${this.signalingState}`);
    return { type: 'answer', sdp: `answer-to-${this.remoteDescription.sdp}` };
  }

  async setLocalDescription(d) {
    if (this.signalingState === 'closed') throw new Error('closed');
    if (d.type === 'offer') {
      if (this.signalingState !== 'stable') throw new Error(`local offer in ${this.signalingState}`);
      this.signalingState = 'have-local-offer';
    } else {
      if (this.signalingState !== 'have-remote-offer') throw new Error(`local answer in ${this.signalingState}`);
      this.signalingState = 'stable';
    }
    this.localDescription = d;
    this.log.push(`local ${d.type} ${d.sdp}`);
  }

  async setRemoteDescription(d) {
    if (this.signalingState === 'closed') throw new Error('closed');
    if (d.type === 'answer') {
      if (this.signalingState !== 'have-local-offer') throw new Error(`remote answer in ${this.signalingState}`);
      this.signalingState = 'stable';
    } else {
      if (this.signalingState !== 'stable') throw new Error(`remote offer in ${this.signalingState}`);
      this.signalingState = 'have-remote-offer';
    }
    this.remoteDescription = d;
    this.log.push(`remote ${d.type} ${d.sdp}`);
  }

  async addIceCandidate(c) {
    if (!this.remoteDescription) throw new Error('candidate before the remote description');
    this.remoteCandidates.push(c);
  }

  close() {
    this.signalingState = 'closed';
    this.connectionState = 'closed';
    this.log.push('close');
  }

  // ---- the test's side ----
  setConnection(state) {
    this.connectionState = state;
    this.dispatchEvent(new Event('connectionstatechange'));
  }

  emitCandidate(candidate) {
    const e = new Event('icecandidate');
    e.candidate = candidate ? { ...candidate, toJSON: () => candidate } : null;
    this.dispatchEvent(e);
  }

  emitTrack(stream, track) {
    const e = new Event('track');
    e.streams = [stream];
    e.track = track;
    this.dispatchEvent(e);
  }
}

const VISIT = 'v-1';
const ME = 'p-patient';

function visitWith(states, extra = {}) {
  const participants = [
    { id: 'p-host', role: 'host', state: states.host ?? 'invited', display_name: 'Dr. Ruiz', waiting_since: null },
    { id: ME, role: 'patient', state: states.me ?? 'invited', display_name: 'Pat Doe', waiting_since: states.me === 'waiting' ? '2027-03-15T12:58:00Z' : null },
  ];
  if (states.guest) participants.push({ id: 'p-guest', role: 'guest', state: states.guest, display_name: 'Ines (interpreter)', waiting_since: '2027-03-15T12:57:00Z' });
  return { id: VISIT, org_id: 'o-1', state: states.visit ?? 'waiting', scheduled_at: '2027-03-15T13:00:00Z', participants, ...extra };
}

const cleanups = [];

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  FakeSocket.all = [];
  FakePC.all = [];
});

/** A started LiveClient on a fake socket, authenticated with a visit pass, and a session on it. */
async function setup(opts = {}) {
  const live = new LiveClient({
    url: 'ws://hub.test/ws',
    WebSocket: FakeSocket,
    getToken: async ({ force }) => (force ? 'fresh-pass' : 'pass'),
    backoff: { initial: 2, max: 10 },
    requestTimeoutMs: 2000,
  });
  const stream = opts.stream === undefined ? new FakeStream('local', [new FakeTrack('audio'), new FakeTrack('video')]) : opts.stream;
  const session = new VisitSession({
    live,
    visitId: VISIT,
    RTCPeerConnection: FakePC,
    localStream: () => stream,
    backoff: { initial: 4, max: 10 },
    disconnectedGraceMs: 20,
    grantWaitMs: 200,
  });
  const seen = { phase: [], event: [], track: [], trackremoved: [], media: [], stats: [], error: [] };
  for (const type of Object.keys(seen)) session.addEventListener(type, (e) => seen[type].push(e.detail));
  cleanups.push(() => {
    session.close();
    live.stop();
  });
  live.start();
  const ws = await authed();
  return { live, session, seen, ws, stream };
}

/** Completes the auth handshake on the newest socket, as a visit pass. */
async function authed() {
  await tick(1);
  const ws = FakeSocket.all.at(-1);
  const auth = await ws.next('auth');
  ws.reply(auth, { protocol: 1, visit_id: VISIT, participant_id: ME, role: 'patient', token_expires_at: '2030-01-01T00:00:00Z', limits: {} });
  await tick(1);
  return ws;
}

/** join → the waiting room. */
async function waiting(session, ws) {
  const done = session.join();
  const join = await ws.next('visit_join');
  ws.reply(join, { visit: visitWith({ me: 'waiting' }), participant: { id: ME, role: 'patient', state: 'waiting' } });
  await done;
  return join;
}

/** Admission: the event, then the grant; resolves with the visit_offer frame. */
async function admitted(ws, grant = 'grant-1') {
  ws.push({ type: 'visit_event', visit: VISIT, event: { seq: 5, kind: 'visit.admitted', participant_id: ME }, state: visitWith({ visit: 'live', host: 'admitted', me: 'admitted' }) });
  ws.push({ type: 'visit_admitted', visit: VISIT, grant, ice_servers: [{ urls: 'stun:stun.test:3478' }] });
  return ws.next('visit_offer');
}

async function inCall(ws, seenPc = () => FakePC.all.at(-1)) {
  const offer = await admitted(ws);
  ws.reply(offer, { sdp: 'sfu-answer-1' });
  await tick(2);
  const pc = seenPc();
  pc.setConnection('connected');
  return { offer, pc };
}

test('the LiveClient passes visit_* pushes on, with the whole frame', async () => {
  const { live, ws } = await setup();
  const got = [];
  live.addEventListener('visit', (e) => got.push(e.detail));
  ws.push({ type: 'visit_stats', visit: VISIT, participants: [] });
  ws.push({ type: 'event', room: 'r1', offset: 1 }); // not a visit push
  assert.deepEqual(got, [{ type: 'visit_stats', visit: VISIT, participants: [] }]);
  assert.equal(live.session.visit_id, VISIT);
  assert.equal(ws.sent[0].token, 'pass');
});

test('joining sends visit_join with the visit and waits in the waiting room', async () => {
  const { session, seen, ws } = await setup();
  const join = await waiting(session, ws);
  assert.equal(join.visit, VISIT);
  assert.equal(session.phase, 'waiting');
  assert.deepEqual(
    seen.phase.map((p) => p.phase),
    ['joining', 'waiting'],
  );
  assert.equal(FakePC.all.length, 0, 'no media before admission');
});

test('admission opens one connection with the ICE servers and offers with the grant', async () => {
  const { session, seen, ws, stream } = await setup();
  await waiting(session, ws);
  const offer = await admitted(ws);
  const pc = FakePC.all[0];
  assert.equal(FakePC.all.length, 1);
  assert.deepEqual(pc.config, { iceServers: [{ urls: 'stun:stun.test:3478' }] });
  assert.deepEqual(
    pc.transceivers.map((t) => [t.kind, t.sender.track?.id]),
    [
      ['audio', stream.getAudioTracks()[0].id],
      ['video', stream.getVideoTracks()[0].id],
    ],
  );
  assert.equal(offer.visit, VISIT);
  assert.equal(offer.grant, 'grant-1');
  assert.equal(offer.sdp, 'client-offer-1');
  assert.equal(session.phase, 'connecting');
  ws.reply(offer, { sdp: 'sfu-answer-1' });
  await tick(2);
  assert.equal(pc.remoteDescription.sdp, 'sfu-answer-1');
  assert.equal(pc.signalingState, 'stable');
  pc.setConnection('connected');
  assert.equal(session.phase, 'in_call');
  const media = await ws.next('visit_media');
  assert.deepEqual([media.audio, media.video, media.screen], [true, true, false]);
  assert.deepEqual(seen.error, []);
});

test('without a camera the video sender still exists (for a screen share later)', async () => {
  const { session, ws } = await setup({ stream: new FakeStream('local', [new FakeTrack('audio')]) });
  await waiting(session, ws);
  await admitted(ws);
  const pc = FakePC.all[0];
  assert.deepEqual(
    pc.transceivers.map((t) => [t.kind, !!t.sender.track]),
    [
      ['audio', true],
      ['video', false],
    ],
  );
  const screen = new FakeTrack('video', 'screen');
  await session.replaceVideoTrack(screen);
  assert.equal(pc.transceivers[1].sender.track, screen);
});

test('local candidates wait for the SFU answer, then go out in order; later ones at once', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const offer = await admitted(ws);
  const pc = FakePC.all[0];
  pc.emitCandidate({ candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 });
  pc.emitCandidate({ candidate: 'candidate:2 1 udp 1 10.0.0.1 5001 typ host', sdpMid: '1', sdpMLineIndex: 1 });
  await tick(5);
  assert.equal(ws.all('visit_candidate').length, 0, 'no candidate before the answer');
  ws.reply(offer, { sdp: 'sfu-answer-1' });
  await tick(5);
  pc.emitCandidate({ candidate: 'candidate:3 1 udp 1 10.0.0.1 5002 typ host', sdpMid: '0', sdpMLineIndex: 0 });
  pc.emitCandidate(null); // end of candidates: nothing to send
  await tick(5);
  const sent = ws.all('visit_candidate');
  assert.deepEqual(
    sent.map((f) => f.candidate.candidate.split(' ')[0]),
    ['candidate:1', 'candidate:2', 'candidate:3'],
  );
  assert.deepEqual(sent[1].candidate, { candidate: 'candidate:2 1 udp 1 10.0.0.1 5001 typ host', sdpMid: '1', sdpMLineIndex: 1 });
  assert.ok(sent.every((f) => f.visit === VISIT));
});

test('an SFU offer pushed before our answer arrived is answered after it, never in the middle', async () => {
  const { session, seen, ws } = await setup();
  await waiting(session, ws);
  const offer = await admitted(ws);
  const pc = FakePC.all[0];
  ws.push({ type: 'visit_signal', visit: VISIT, offer: 'sfu-offer-1' });
  ws.push({ type: 'visit_signal', visit: VISIT, candidate: { candidate: 'candidate:9 1 udp 1 10.0.0.9 6000 typ host', sdpMid: '0', sdpMLineIndex: 0 } });
  await tick(10);
  assert.equal(ws.all('visit_answer').length, 0);
  assert.equal(pc.signalingState, 'have-local-offer');
  ws.reply(offer, { sdp: 'sfu-answer-1' });
  const answer = await ws.next('visit_answer');
  assert.equal(answer.sdp, 'answer-to-sfu-offer-1');
  assert.equal(answer.visit, VISIT);
  ws.reply(answer, {});
  await tick(5);
  assert.deepEqual(pc.log, [
    'local offer client-offer-1',
    'remote answer sfu-answer-1',
    'remote offer sfu-offer-1',
    'local answer answer-to-sfu-offer-1',
  ]);
  assert.equal(pc.remoteCandidates.length, 1);
  assert.deepEqual(seen.error, []);
});

test('SFU offers are answered one at a time, in the order they came', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  ws.push({ type: 'visit_signal', visit: VISIT, offer: 'sfu-offer-1' });
  ws.push({ type: 'visit_signal', visit: VISIT, offer: 'sfu-offer-2' });
  const a1 = await ws.next('visit_answer');
  await tick(10);
  assert.equal(ws.all('visit_answer').length, 1, 'the second waits for the first to be acknowledged');
  ws.reply(a1, {});
  const a2 = await ws.next('visit_answer');
  assert.equal(a1.sdp, 'answer-to-sfu-offer-1');
  assert.equal(a2.sdp, 'answer-to-sfu-offer-2');
  ws.reply(a2, {});
  await tick(2);
  assert.equal(pc.signalingState, 'stable');
  assert.equal(FakePC.all.length, 1);
});

test('signals for another visit are ignored; an end-of-candidates is not added', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  ws.push({ type: 'visit_signal', visit: 'v-other', offer: 'foreign' });
  ws.push({ type: 'visit_signal', visit: VISIT, candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0 } });
  await tick(10);
  assert.equal(ws.all('visit_answer').length, 0);
  assert.equal(pc.remoteCandidates.length, 0);
});

test('remote tracks are named by their stream id (the publishing participant) and removed with it', async () => {
  const { session, seen, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  const audio = new FakeTrack('audio');
  const video = new FakeTrack('video');
  const stream = new FakeStream('p-host', [audio, video]);
  pc.emitTrack(stream, audio);
  pc.emitTrack(stream, video);
  assert.deepEqual(
    seen.track.map((t) => [t.participant, t.track.kind]),
    [
      ['p-host', 'audio'],
      ['p-host', 'video'],
    ],
  );
  assert.equal(session.nameOf('p-host'), 'Dr. Ruiz');
  stream.removeTrack(video);
  assert.deepEqual(
    seen.trackremoved.map((t) => [t.participant, t.track.kind]),
    [['p-host', 'video']],
  );
});

test('visit_media and visit_stats pushes are passed on', async () => {
  const { session, seen, ws } = await setup();
  await waiting(session, ws);
  ws.push({ type: 'visit_media', visit: VISIT, participant: 'p-host', audio: false, video: true, screen: true });
  ws.push({ type: 'visit_stats', visit: VISIT, participants: [{ participant: 'p-host', packet_loss: 0.01, rtt_ms: 40 }] });
  assert.deepEqual(seen.media, [{ participant: 'p-host', audio: false, video: true, screen: true }]);
  assert.equal(seen.stats[0].participants[0].participant, 'p-host');
});

test('a dropped socket reconnects, joins again and offers afresh on a new connection', async () => {
  const { session, seen, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  ws.drop(1006);
  assert.equal(session.phase, 'reconnecting');
  await tick(20);
  const ws2 = await authed();
  const join = await ws2.next('visit_join');
  ws2.reply(join, { visit: visitWith({ visit: 'live', host: 'admitted', me: 'admitted' }), participant: { id: ME, role: 'patient', state: 'admitted' } });
  const offer = await ws2.next('visit_offer');
  assert.equal(offer.grant, 'grant-1');
  assert.equal(offer.sdp, 'client-offer-1', 'a new connection makes a new first offer');
  assert.equal(FakePC.all.length, 2);
  assert.equal(pc.connectionState, 'closed', 'the old connection is closed');
  ws2.reply(offer, { sdp: 'sfu-answer-2' });
  await tick(2);
  FakePC.all[1].setConnection('connected');
  assert.equal(session.phase, 'in_call');
  assert.deepEqual(
    seen.phase.map((p) => p.phase),
    ['joining', 'waiting', 'connecting', 'in_call', 'reconnecting', 'in_call'],
  );
});

test('after a reconnect the fresh grant pushed before the join reply is used, with one new connection only', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  pc.setConnection('failed'); // the SFU dropped the old connection with the socket
  ws.drop(1006);
  await tick(20);
  const ws2 = await authed();
  const join = await ws2.next('visit_join');
  // The hub answers a join while admitted with visit_admitted first, then the reply.
  ws2.push({ type: 'visit_admitted', visit: VISIT, grant: 'grant-2', ice_servers: [] });
  ws2.reply(join, { visit: visitWith({ visit: 'live', host: 'admitted', me: 'admitted' }), participant: { id: ME, role: 'patient', state: 'admitted' } });
  const offer = await ws2.next('visit_offer');
  assert.equal(offer.grant, 'grant-2');
  await tick(30);
  assert.equal(ws2.all('visit_offer').length, 1, 'one offer on the new socket');
  assert.equal(FakePC.all.length, 2);
  assert.equal(session.phase, 'reconnecting');
  ws2.reply(offer, { sdp: 'sfu-answer-2' });
  await tick(2);
  FakePC.all[1].setConnection('connected');
  assert.equal(session.phase, 'in_call');
});

test('a socket that comes back while still waiting joins the waiting room again, without media', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  ws.drop(1001);
  await tick(20);
  const ws2 = await authed();
  const join = await ws2.next('visit_join');
  ws2.reply(join, { visit: visitWith({ me: 'waiting' }), participant: { id: ME, role: 'patient', state: 'waiting' } });
  await tick(5);
  assert.equal(session.phase, 'waiting');
  assert.equal(FakePC.all.length, 0);
});

test('an ICE failure restarts the connection with a fresh offer after a backoff, without a join', async () => {
  const { session, seen, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  pc.setConnection('failed');
  assert.equal(session.phase, 'reconnecting');
  const offer = await ws.next('visit_offer');
  assert.equal(FakePC.all.length, 2);
  assert.equal(offer.grant, 'grant-1');
  assert.equal(ws.all('visit_join').length, 1, 'the socket is fine: no new join');
  ws.reply(offer, { sdp: 'sfu-answer-2' });
  await tick(2);
  FakePC.all[1].setConnection('connected');
  assert.equal(session.phase, 'in_call');
  assert.ok(seen.phase.some((p) => p.phase === 'reconnecting' && p.reason === 'ice failed'));
});

test('ICE disconnected for longer than the grace period restarts; a quick recovery does not', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  pc.setConnection('disconnected');
  pc.setConnection('connected');
  await tick(40);
  assert.equal(FakePC.all.length, 1);
  assert.equal(session.phase, 'in_call');
  pc.setConnection('disconnected');
  await ws.next('visit_offer');
  assert.equal(FakePC.all.length, 2);
});

test('a refused grant joins again and uses the fresh one from visit_admitted', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const offer = await admitted(ws);
  ws.fail(offer, 'grant_invalid');
  const join = await ws.next('visit_join');
  ws.reply(join, { visit: visitWith({ visit: 'live', host: 'admitted', me: 'admitted' }), participant: { id: ME, role: 'patient', state: 'admitted' } });
  await tick(5);
  assert.equal(session.phase, 'connecting');
  ws.push({ type: 'visit_admitted', visit: VISIT, grant: 'grant-2', ice_servers: [] });
  const again = await ws.next('visit_offer');
  assert.equal(again.grant, 'grant-2');
});

test('a refused grant with no fresh one in time fails', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const offer = await admitted(ws);
  ws.fail(offer, 'grant_invalid');
  ws.fail(await ws.next('visit_join'), 'unavailable');
  await tick(260);
  assert.equal(session.phase, 'failed');
});

test('media_unavailable retries the offer after a backoff', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const offer = await admitted(ws);
  ws.fail(offer, 'media_unavailable');
  const again = await ws.next('visit_offer');
  assert.equal(again.grant, 'grant-1');
  assert.equal(FakePC.all.length, 2);
});

test('the end of the visit closes the connection; a repeated event is applied once', async () => {
  const { session, seen, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  const ended = { type: 'visit_event', visit: VISIT, event: { seq: 9, kind: 'visit.ended', duration_ms: 1000 }, state: visitWith({ visit: 'ended', host: 'left', me: 'left' }) };
  ws.push(ended);
  ws.push(ended);
  assert.equal(session.phase, 'ended');
  assert.equal(pc.connectionState, 'closed');
  assert.equal(seen.event.filter((e) => e.kind === 'ended').length, 1);
});

test('a decline ends the wait with "declined"', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  ws.push({ type: 'visit_event', visit: VISIT, event: { seq: 4, kind: 'visit.declined', participant_id: ME }, state: visitWith({ me: 'declined', visit: 'scheduled' }) });
  assert.equal(session.phase, 'declined');
});

test('a join refused with "declined" shows declined', async () => {
  const { session, ws } = await setup();
  const done = session.join();
  ws.fail(await ws.next('visit_join'), 'declined');
  await assert.rejects(done, (e) => e.code === 'declined');
  assert.equal(session.phase, 'declined');
});

test('leaving sends visit_leave and closes the connection; a later grant starts nothing', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const { pc } = await inCall(ws);
  const done = session.leave();
  const leave = await ws.next('visit_leave');
  ws.reply(leave, { visit: visitWith({ visit: 'live', host: 'admitted', me: 'left' }) });
  await done;
  assert.equal(session.phase, 'left');
  assert.equal(pc.connectionState, 'closed');
  ws.push({ type: 'visit_admitted', visit: VISIT, grant: 'late', ice_servers: [] });
  await tick(10);
  assert.equal(FakePC.all.length, 1);
});

test('host commands name the visit and the participant', async () => {
  const { session, ws } = await setup();
  await waiting(session, ws);
  const done = session.admit('p-guest');
  const admit = await ws.next('visit_admit');
  assert.deepEqual([admit.visit, admit.participant], [VISIT, 'p-guest']);
  ws.reply(admit, { visit: visitWith({ visit: 'live', me: 'waiting', guest: 'admitted' }) });
  await done;
  const declined = session.decline(ME);
  const decline = await ws.next('visit_decline');
  assert.equal(decline.participant, ME);
  ws.reply(decline, { visit: visitWith({ visit: 'live', me: 'declined' }) });
  await declined;
  assert.equal(session.phase, 'declined');
});

test('the waiting queue is longest-waiting first; event kinds lose their prefix', () => {
  const v = visitWith({ me: 'waiting', guest: 'waiting' });
  assert.deepEqual(
    waitingQueue(v).map((p) => p.id),
    ['p-guest', ME],
  );
  assert.equal(eventKind({ kind: 'visit.patient_waiting' }), 'patient_waiting');
  assert.equal(eventKind({ type: 'admitted' }), 'admitted');
});

test('quality is good, fair or poor by loss and round-trip time', () => {
  assert.equal(quality({ packet_loss: 0, rtt_ms: 30 }), 'good');
  assert.equal(quality({ packet_loss: 0.01, rtt_ms: null }), 'good');
  assert.equal(quality({ packet_loss: 0.03, rtt_ms: 30 }), 'fair');
  assert.equal(quality({ packet_loss: 0, rtt_ms: 200 }), 'fair');
  assert.equal(quality({ packet_loss: 0.1, rtt_ms: 30 }), 'poor');
  assert.equal(quality({ packet_loss: 0, rtt_ms: 600 }), 'poor');
  assert.equal(quality({ packet_loss: 12, rtt_ms: 30 }), 'poor', 'a percentage');
});
