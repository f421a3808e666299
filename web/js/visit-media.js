// One participant's side of a video visit (docs/visits.md, "On /ws" and
// "Media"), shared by the patient/guest page and the clinician console.
//
// It runs over a LiveClient (live.js) and knows nothing about the DOM: it
// joins the visit, follows the waiting room and the visit's events, and once
// admitted keeps the one RTCPeerConnection to the SFU:
//
//   visit_admitted push (grant, ice_servers)
//     → new RTCPeerConnection, local audio and video on two transceivers
//     → visit_offer {grant, sdp} → the SFU's answer is applied
//   visit_signal push with `offer`     → visit_answer (one at a time, in order)
//   visit_signal push with `candidate` → addIceCandidate
//   local ICE candidates               → visit_candidate (held back until the
//                                        SFU has answered our offer: before
//                                        that it does not know the connection)
//
// Every signaling step runs on one queue, so an SFU offer that arrives while
// our own offer still waits for its answer is handled after it, never in the
// middle. A socket that comes back (LiveClient reconnected) sends visit_join
// again and, if still admitted, a fresh visit_offer on a new connection (the
// SFU replaces the old one); an ICE failure does the same without the join.
// Restarts back off like the socket does.
//
// Events (CustomEvent, data in `detail`):
//   phase    {phase, previous, reason?}  phase is one of
//            idle | joining | watching (a host before the visit is live) |
//            waiting | connecting | in_call | reconnecting |
//            left | ended | declined | failed
//   visit    {visit}                      the Visit after any change
//   event    {event, kind, visit}         one visit event; `kind` without the
//            "visit." prefix (admitted, participant_left, ended, ...)
//   track    {participant, stream, track} a remote track; `stream.id` is the
//            publishing participant's id
//   trackremoved {participant, stream, track}
//   media    {participant, audio, video, screen}   what another participant sends
//   stats    {participants}               visit_stats (hosts, every 5 s)
//   error    {error, during}              a step failed (already handled: the
//            session retries or changes phase); for logs and messages

import { backoffDelay } from './live.js';

const TERMINAL_VISIT = new Set(['ended', 'no_show', 'cancelled']);
const FINAL_PHASES = new Set(['ended', 'declined']);

/** An event's kind without the `visit.` prefix ("visit.admitted" → "admitted"). */
export function eventKind(event) {
  const raw = String(event?.kind ?? event?.type ?? '');
  return raw.startsWith('visit.') ? raw.slice(6) : raw;
}

/** The participant id an event is about (flat or nested forms). */
export function eventParticipant(event) {
  return event?.participant_id ?? event?.participant?.id ?? event?.participant ?? null;
}

/** Waiting participants, longest waiting first (the host's queue). */
export function waitingQueue(visit) {
  return (visit?.participants ?? [])
    .filter((p) => p.state === 'waiting')
    .sort((a, b) => String(a.waiting_since ?? '').localeCompare(String(b.waiting_since ?? '')));
}

/**
 * Quality of a participant's connection from `visit_stats`: good, fair or poor.
 * `packet_loss` is a fraction (0.03 = 3 %); a value above 1 is read as a
 * percentage. `rtt_ms` may be null (not measured yet).
 */
export function quality(stats) {
  let loss = Number(stats?.packet_loss ?? 0);
  if (!Number.isFinite(loss) || loss < 0) loss = 0;
  if (loss > 1) loss /= 100;
  const rtt = stats?.rtt_ms == null ? null : Number(stats.rtt_ms);
  if (loss >= 0.08 || (rtt != null && rtt >= 400)) return 'poor';
  if (loss >= 0.02 || (rtt != null && rtt >= 150)) return 'fair';
  return 'good';
}

export class VisitSession extends EventTarget {
  /**
   * @param {object} opts
   * @param {import('./live.js').LiveClient} opts.live  started by the page
   * @param {string} opts.visitId
   * @param {() => (MediaStream|null|Promise<MediaStream|null>)} [opts.localStream]
   *   camera and microphone to send (either may be missing: audio only, or
   *   receive only); asked at every (re)start of the connection
   * @param {typeof RTCPeerConnection} [opts.RTCPeerConnection]
   * @param {object} [opts.backoff]  as for live.js backoffDelay
   * @param {number} [opts.disconnectedGraceMs]  ICE `disconnected` this long
   *   counts as a failure (default 5 s; it often recovers by itself)
   * @param {number} [opts.grantWaitMs]  after a refused grant, how long to wait
   *   for a fresh `visit_admitted` before giving up (default 15 s)
   */
  constructor(opts) {
    super();
    this.live = opts.live;
    this.visitId = opts.visitId;
    this.localStream = opts.localStream ?? (() => null);
    this.PeerConnection = opts.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    this.backoff = opts.backoff ?? {};
    this.disconnectedGraceMs = opts.disconnectedGraceMs ?? 5000;
    this.grantWaitMs = opts.grantWaitMs ?? 15000;

    this.phase = 'idle';
    this.visit = null; // the newest Visit
    this.me = null; // {id, role, state}
    this.grant = null;
    this.iceServers = [];
    this.pc = null;
    this.gen = 0; // numbers the connections; stale steps check it
    this.queue = Promise.resolve();
    this.offerAnswered = false;
    this.localCandidates = [];
    this.audioSender = null;
    this.videoSender = null;
    this.videoTrack = null; // what the video sender carries (camera or screen)
    this.media = { audio: true, video: true, screen: false };
    this.remoteStreams = new Map(); // participant id -> MediaStream
    this.watchedStreams = new WeakSet(); // streams with a removetrack listener
    this.wanted = false; // the page wants to be in the visit
    this.restartAttempt = 0;
    this.restartTimer = null;
    this.disconnectedTimer = null;
    this.grantTimer = null;
    this.lastSeq = 0;

    this.onPush = (e) => this.#onPush(e.detail);
    this.onLiveOpen = () => this.#onSocketOpen();
    this.onLiveState = (e) => this.#onSocketState(e.detail.state);
    this.live.addEventListener('visit', this.onPush);
    this.live.addEventListener('open', this.onLiveOpen);
    this.live.addEventListener('state', this.onLiveState);
    this.joinedOnSocket = null; // the live session (auth result) we last joined on
    this.startedOn = null; // the live session the current connection was started on
  }

  // ---- state ---------------------------------------------------------

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setPhase(phase, reason) {
    if (this.phase === phase) return;
    const previous = this.phase;
    this.phase = phase;
    this.#emit('phase', { phase, previous, reason });
  }

  /**
   * A newer copy of the visit from elsewhere (REST, a `user_event`): for a host
   * whose socket does not follow the visit (after leaving the call).
   */
  updateVisit(visit) {
    this.#setVisit(visit);
  }

  /** The display name of a participant of the visit, or a fallback. */
  nameOf(participantId, fallback = 'Participant') {
    const p = this.visit?.participants?.find((x) => x.id === participantId);
    return p?.display_name || fallback;
  }

  get inSession() {
    return this.pc != null;
  }

  #setVisit(visit) {
    if (!visit || (visit.id && visit.id !== this.visitId)) return;
    this.visit = visit;
    if (this.me) {
      const mine = visit.participants?.find((p) => p.id === this.me.id);
      if (mine) this.me = { ...this.me, state: mine.state, role: mine.role ?? this.me.role };
    }
    this.#emit('visit', { visit });
  }

  /**
   * Decides the phase from the visit and our participant. Starts nothing by
   * itself except closing the connection when we are no longer admitted;
   * media starts on `visit_admitted` (or a rejoin while admitted).
   */
  #settle(reason) {
    if (this.phase === 'idle' || FINAL_PHASES.has(this.phase)) return;
    const visitState = this.visit?.state;
    if (TERMINAL_VISIT.has(visitState)) {
      this.#closeMedia();
      this.wanted = false;
      this.#setPhase('ended', visitState);
      return;
    }
    if (!this.wanted) return; // left: the page shows that until it joins again
    const state = this.me?.state;
    if (state === 'declined') {
      this.#closeMedia();
      this.wanted = false;
      this.#setPhase('declined', reason);
      return;
    }
    if (state === 'waiting') {
      this.#closeMedia();
      this.#setPhase('waiting', reason);
      return;
    }
    if (state === 'admitted') {
      if (!this.pc) this.#setPhase('connecting', reason);
      return;
    }
    // invited or left
    this.#closeMedia();
    if (this.me?.role === 'host') {
      this.#setPhase('watching', reason);
    } else {
      this.wanted = false;
      this.#setPhase('left', reason);
    }
  }

  // ---- joining and leaving --------------------------------------------

  /**
   * Enters the visit: patients and guests go to the waiting room, hosts join
   * a live visit (or watch one that is not). Resolves with the join result;
   * rejects with the server's error (`declined`, `too_early`, …).
   */
  async join() {
    this.wanted = true;
    if (this.phase === 'idle' || this.phase === 'left' || this.phase === 'failed') this.#setPhase('joining');
    await this.live.whenOpen();
    let result;
    try {
      result = await this.live.request('visit_join', { visit: this.visitId });
    } catch (e) {
      if (e.code === 'declined') {
        this.wanted = false;
        this.#setPhase('declined', 'declined');
      } else if (e.code === 'visit_ended' || e.code === 'visit_not_found') {
        this.wanted = false;
        this.#setPhase(e.code === 'visit_ended' ? 'ended' : 'failed', e.code);
      } else if (this.phase === 'joining') {
        // A first join that failed (too early, no connection): the page says why
        // and may try again.
        this.wanted = false;
        this.#setPhase('idle', e.code);
      }
      throw e;
    }
    this.joinedOnSocket = this.live.session;
    this.#applyJoin(result);
    return result;
  }

  #applyJoin(result) {
    if (result?.participant) this.me = { ...this.me, ...result.participant };
    if (result?.visit) this.#setVisit(result.visit);
    if (result?.grant) {
      this.grant = result.grant;
      if (Array.isArray(result.ice_servers)) this.iceServers = result.ice_servers;
    }
    this.#settle('joined');
  }

  /** Leaves the waiting room or the session (the visit goes on). */
  async leave() {
    this.wanted = false;
    this.#clearTimers();
    this.#closeMedia();
    let result = null;
    try {
      if (this.live.state === 'open') result = await this.live.request('visit_leave', { visit: this.visitId });
    } finally {
      if (!FINAL_PHASES.has(this.phase)) this.#setPhase('left', 'leave');
    }
    if (result?.visit) this.#setVisit(result.visit);
    return result;
  }

  /** Stops listening and closes the connection (page unload, leaving the console's visit). */
  close() {
    this.wanted = false;
    this.#clearTimers();
    this.#closeMedia();
    this.live.removeEventListener('visit', this.onPush);
    this.live.removeEventListener('open', this.onLiveOpen);
    this.live.removeEventListener('state', this.onLiveState);
  }

  // ---- host commands ---------------------------------------------------

  async #hostCommand(type, fields = {}) {
    const result = await this.live.request(type, { visit: this.visitId, ...fields });
    if (result?.visit) {
      this.#setVisit(result.visit);
      this.#settle(type);
    }
    return result;
  }

  admit(participantId) {
    return this.#hostCommand('visit_admit', { participant: participantId });
  }

  decline(participantId) {
    return this.#hostCommand('visit_decline', { participant: participantId });
  }

  start() {
    this.wanted = true;
    return this.#hostCommand('visit_start');
  }

  end() {
    return this.#hostCommand('visit_end');
  }

  // ---- pushes ------------------------------------------------------------

  #onPush(frame) {
    if (frame?.visit !== this.visitId) return;
    switch (frame.type) {
      case 'visit_event':
        this.#onVisitEvent(frame);
        break;
      case 'visit_admitted':
        this.#onAdmitted(frame);
        break;
      case 'visit_signal':
        this.#onSignal(frame);
        break;
      case 'visit_media':
        this.#emit('media', {
          participant: frame.participant,
          audio: frame.audio !== false,
          video: frame.video !== false,
          screen: frame.screen === true,
        });
        break;
      case 'visit_stats':
        this.#emit('stats', { participants: frame.participants ?? [] });
        break;
      default:
        break;
    }
  }

  #onVisitEvent(frame) {
    const event = frame.event ?? {};
    const seq = Number(event.seq);
    // An event seen already (pushed twice around a reconnect): once is enough.
    if (Number.isFinite(seq) && seq > 0) {
      if (seq <= this.lastSeq) return;
      this.lastSeq = seq;
    }
    if (frame.state) this.#setVisit(frame.state);
    const kind = eventKind(event);
    this.#emit('event', { event, kind, visit: this.visit });
    this.#settle(kind);
  }

  #onAdmitted(frame) {
    this.grant = frame.grant ?? this.grant;
    if (Array.isArray(frame.ice_servers)) this.iceServers = frame.ice_servers;
    clearTimeout(this.grantTimer);
    this.grantTimer = null;
    if (this.me) this.me = { ...this.me, state: 'admitted' };
    if (!this.wanted) return; // left meanwhile: the grant is kept, nothing starts
    // Already in (or entering) the session: keep the grant for later restarts.
    if (this.pc && !['failed', 'closed'].includes(this.pc.connectionState)) return;
    this.startMedia('admitted');
  }

  #onSignal(frame) {
    const gen = this.gen;
    if (frame.offer != null) {
      const sdp = typeof frame.offer === 'string' ? frame.offer : frame.offer.sdp;
      this.#enqueue('answer', async () => {
        if (gen !== this.gen || !this.pc) return;
        const pc = this.pc;
        await pc.setRemoteDescription({ type: 'offer', sdp });
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        if (gen !== this.gen) return;
        await this.live.request('visit_answer', { visit: this.visitId, sdp: pc.localDescription?.sdp ?? answer.sdp });
      });
    }
    if (frame.candidate != null) {
      const candidate = frame.candidate;
      this.#enqueue('remote candidate', async () => {
        if (gen !== this.gen || !this.pc) return;
        if (!candidate.candidate) return; // end of candidates
        await this.pc.addIceCandidate(candidate);
      });
    }
  }

  // ---- the socket --------------------------------------------------------

  #onSocketState(state) {
    if (state === 'reconnecting' && this.wanted && ['in_call', 'connecting'].includes(this.phase)) {
      this.#setPhase('reconnecting', 'socket');
    }
  }

  /** The socket authenticated again after a drop: join again, and re-offer if admitted. */
  async #onSocketOpen() {
    if (!this.wanted || this.joinedOnSocket == null || this.joinedOnSocket === this.live.session) return;
    const wasInSession = this.pc != null || ['reconnecting', 'connecting', 'in_call'].includes(this.phase);
    let result;
    try {
      result = await this.join();
    } catch (e) {
      this.#emit('error', { error: e, during: 'rejoin' });
      return;
    }
    // The hub sends visit_admitted with a fresh grant to a participant who joins
    // while admitted, possibly before the join's reply: that may have restarted
    // the connection on this socket already.
    if (this.startedOn === this.live.session && this.pc) return;
    if (result?.participant?.state === 'admitted' || this.me?.state === 'admitted') {
      if (wasInSession || this.grant) this.startMedia('socket reconnected');
    }
  }

  // ---- the peer connection -------------------------------------------------

  #enqueue(during, step) {
    const run = this.queue.then(step).catch((error) => this.#onStepError(error, during));
    this.queue = run;
    return run;
  }

  #onStepError(error, during) {
    this.#emit('error', { error, during });
    // A failed offer/answer leaves the connection half negotiated: start over
    // (a lost socket rejoins and re-offers by itself).
    if ((during === 'offer' || during === 'answer') && !['disconnected', 'stopped'].includes(error?.code)) {
      this.#scheduleRestart(`${during} failed`);
    }
  }

  /**
   * Opens a new connection to the SFU and offers our media with the grant. Any
   * previous connection is closed first (a restart).
   */
  startMedia(reason = 'start') {
    if (!this.grant) {
      this.#setPhase('connecting', 'no grant');
      return Promise.resolve();
    }
    clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.#closeMedia();
    const gen = ++this.gen;
    const grant = this.grant;
    this.startedOn = this.live.session;
    this.#setPhase(['in_call', 'reconnecting'].includes(this.phase) ? 'reconnecting' : 'connecting', reason);
    const pc = new this.PeerConnection({ iceServers: this.iceServers ?? [] });
    this.pc = pc;
    this.offerAnswered = false;
    this.localCandidates = [];
    this.remoteStreams = new Map();

    pc.addEventListener('icecandidate', (e) => {
      if (gen !== this.gen || !e.candidate) return;
      const c = e.candidate;
      const init = typeof c.toJSON === 'function' ? c.toJSON() : c;
      const candidate = { candidate: init.candidate, sdpMid: init.sdpMid ?? null, sdpMLineIndex: init.sdpMLineIndex ?? null };
      if (!this.offerAnswered) this.localCandidates.push(candidate);
      else this.#sendCandidate(candidate);
    });
    pc.addEventListener('track', (e) => this.#onTrack(gen, e));
    pc.addEventListener('connectionstatechange', () => this.#onConnectionState(gen, pc));

    return this.#enqueue('offer', async () => {
      if (gen !== this.gen) return;
      // The page may open the camera only now (the console does, on admission).
      const stream = (await this.localStream()) ?? null;
      if (gen !== this.gen) return;
      const streams = stream ? [stream] : [];
      const audio = stream?.getAudioTracks?.()[0] ?? null;
      const current = this.videoTrack && this.videoTrack.readyState !== 'ended' ? this.videoTrack : null;
      const video = current ?? stream?.getVideoTracks?.()[0] ?? null;
      this.videoTrack = video;
      // Both kinds always get a sender, so a participant without a camera can
      // still share a screen later (replaceTrack, no renegotiation).
      this.audioSender = pc.addTransceiver(audio ?? 'audio', { direction: 'sendrecv', streams }).sender;
      this.videoSender = pc.addTransceiver(video ?? 'video', { direction: 'sendrecv', streams }).sender;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (gen !== this.gen) return;
      let result;
      try {
        result = await this.live.request('visit_offer', {
          visit: this.visitId,
          grant,
          sdp: pc.localDescription?.sdp ?? offer.sdp,
        });
      } catch (e) {
        if (gen === this.gen) this.#offerRefused(e, grant);
        return;
      }
      if (gen !== this.gen) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: result.sdp });
      this.offerAnswered = true;
      for (const c of this.localCandidates.splice(0)) this.#sendCandidate(c);
      this.#sendMedia();
      if (pc.connectionState === 'connected') this.#connected();
    });
  }

  #offerRefused(error, grant) {
    this.#emit('error', { error, during: 'offer' });
    const code = error?.code;
    if (code === 'grant_invalid') {
      // The grant expired (or the hub rotated it): a newer one may be here
      // already; otherwise join again and wait for a fresh visit_admitted.
      if (this.grant && this.grant !== grant) {
        this.startMedia('new grant');
        return;
      }
      this.grant = null;
      this.#closeMedia();
      this.#setPhase('connecting', 'grant');
      clearTimeout(this.grantTimer);
      this.grantTimer = setTimeout(() => {
        if (!this.grant && this.wanted) this.#setPhase('failed', 'grant');
      }, this.grantWaitMs);
      this.live
        .request('visit_join', { visit: this.visitId })
        .then((r) => this.#applyJoin(r))
        .then(() => {
          if (this.grant && !this.pc && this.me?.state === 'admitted') this.startMedia('new grant');
        })
        .catch(() => {});
      return;
    }
    if (code === 'not_admitted') {
      this.#closeMedia();
      this.join().catch(() => {});
      return;
    }
    if (code === 'disconnected' || code === 'stopped') {
      // The socket went away: its reconnect joins again and re-offers.
      this.#closeMedia();
      return;
    }
    if (code === 'visit_ended' || code === 'illegal_transition') {
      this.#closeMedia();
      this.join().catch(() => {});
      return;
    }
    // media_unavailable, invalid_sdp, timeout, …: try again after a while.
    this.#scheduleRestart('offer refused');
  }

  #sendCandidate(candidate) {
    if (this.live.state !== 'open') return;
    this.live.request('visit_candidate', { visit: this.visitId, candidate }).catch(() => {
      /* a candidate lost with the socket is replaced by the restart's own */
    });
  }

  #onTrack(gen, e) {
    if (gen !== this.gen) return;
    const stream = e.streams?.[0];
    const participant = stream?.id;
    if (!participant) return;
    const track = e.track;
    this.remoteStreams.set(participant, stream);
    if (!this.watchedStreams.has(stream)) {
      this.watchedStreams.add(stream);
      stream.addEventListener?.('removetrack', (ev) => {
        if (gen !== this.gen) return;
        this.#emit('trackremoved', { participant, stream, track: ev.track });
      });
    }
    this.#emit('track', { participant, stream, track });
  }

  #onConnectionState(gen, pc) {
    if (gen !== this.gen) return;
    const state = pc.connectionState;
    clearTimeout(this.disconnectedTimer);
    this.disconnectedTimer = null;
    if (state === 'connected') {
      this.#connected();
    } else if (state === 'failed') {
      this.#scheduleRestart('ice failed');
    } else if (state === 'disconnected') {
      this.#setPhase('reconnecting', 'ice disconnected');
      this.disconnectedTimer = setTimeout(() => {
        if (gen === this.gen && pc.connectionState !== 'connected') this.#scheduleRestart('ice disconnected');
      }, this.disconnectedGraceMs);
    }
  }

  #connected() {
    if (!this.offerAnswered) return;
    this.restartAttempt = 0;
    this.#setPhase('in_call', 'connected');
  }

  #scheduleRestart(reason) {
    if (!this.wanted || this.restartTimer) return;
    const delay = backoffDelay(this.restartAttempt, this.backoff);
    this.restartAttempt += 1;
    this.#setPhase('reconnecting', reason);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.wanted || this.me?.state !== 'admitted') return;
      // A dropped socket rejoins and re-offers by itself once it is back.
      if (this.live.state !== 'open') return;
      this.startMedia(reason);
    }, delay);
  }

  #closeMedia() {
    clearTimeout(this.disconnectedTimer);
    this.disconnectedTimer = null;
    const pc = this.pc;
    if (!pc) return;
    this.gen += 1;
    this.pc = null;
    this.offerAnswered = false;
    this.audioSender = null;
    this.videoSender = null;
    for (const [participant, stream] of this.remoteStreams) {
      for (const track of stream.getTracks?.() ?? []) this.#emit('trackremoved', { participant, stream, track });
    }
    this.remoteStreams = new Map();
    try {
      pc.close();
    } catch {
      /* already closed */
    }
  }

  #clearTimers() {
    clearTimeout(this.restartTimer);
    clearTimeout(this.disconnectedTimer);
    clearTimeout(this.grantTimer);
    this.restartTimer = this.disconnectedTimer = this.grantTimer = null;
  }

  // ---- what we send -------------------------------------------------------------

  /**
   * Puts another track on the video sender (screen share and back, another
   * camera): replaceTrack, no renegotiation. `null` sends nothing.
   */
  async replaceVideoTrack(track) {
    this.videoTrack = track;
    if (this.videoSender) await this.videoSender.replaceTrack(track);
  }

  /** The same for the microphone (another device chosen during the call). */
  async replaceAudioTrack(track) {
    if (this.audioSender) await this.audioSender.replaceTrack(track);
  }

  /** Tells the others what this participant sends (visit_media); kept for restarts. */
  setMedia(flags) {
    this.media = { ...this.media, ...flags };
    this.#sendMedia();
  }

  #sendMedia() {
    if (!this.offerAnswered || this.live.state !== 'open') return;
    const { audio, video, screen } = this.media;
    this.live
      .request('visit_media', { visit: this.visitId, audio: !!audio, video: !!video, screen: !!screen })
      .catch(() => {});
  }
}
