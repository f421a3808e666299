// The in-call view shared by the patient page and the clinician console: one
// tile per participant (video with the name under it, what they send, the
// connection quality), and the controls: microphone, camera, screen share.
// It renders from a VisitSession's events (visit-media.js).

import { el } from './dom.js';
import { openCamera, stopStream } from './devices.js';
import { quality } from './visit-media.js';

const QUALITY_TEXT = { good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection' };

export class CallView {
  /**
   * @param {object} opts
   * @param {import('./visit-media.js').VisitSession} opts.session
   * @param {HTMLElement} opts.tiles  a list (<ul>) for the tiles
   * @param {{mic: HTMLButtonElement, camera: HTMLButtonElement, share: HTMLButtonElement}} opts.controls
   * @param {{stream: MediaStream|null, videoId?: string}} opts.local  the page's camera and microphone
   * @param {(text: string) => void} opts.announce  for the aria-live region
   */
  constructor({ session, tiles, controls, local, announce }) {
    this.session = session;
    this.tiles = tiles;
    this.controls = controls;
    this.local = local;
    this.announce = announce;
    this.micOn = true;
    this.cameraOn = true;
    this.screen = null; // the screen-share track while sharing
    this.remote = new Map(); // participant id -> {li, video, name, flags, quality}
    this.selfTile = null;

    session.addEventListener('track', (e) => this.#onTrack(e.detail));
    session.addEventListener('trackremoved', (e) => this.#onTrackRemoved(e.detail));
    session.addEventListener('media', (e) => this.#onMedia(e.detail));
    session.addEventListener('stats', (e) => this.#onStats(e.detail.participants));
    session.addEventListener('visit', () => this.#renameAll());
    session.addEventListener('event', (e) => this.#onEvent(e.detail));

    controls.mic.addEventListener('click', () => this.toggleMic());
    controls.camera.addEventListener('click', () => this.toggleCamera().catch(() => {}));
    controls.share.addEventListener('click', () => (this.screen ? this.stopShare() : this.startShare()).catch(() => {}));
    if (!globalThis.navigator?.mediaDevices?.getDisplayMedia) {
      controls.share.hidden = true; // phones and some browsers cannot share a screen
    }
  }

  // ---- my own tile and controls ----------------------------------------------

  /** Shows my own video (muted, mirrored) as the first tile and sets the buttons. */
  showSelf() {
    const stream = this.local.stream;
    const hasAudio = !!stream?.getAudioTracks().length;
    const hasVideo = !!stream?.getVideoTracks().length;
    this.micOn = hasAudio && stream.getAudioTracks().every((t) => t.enabled);
    this.cameraOn = hasVideo && stream.getVideoTracks().every((t) => t.enabled);
    if (!this.selfTile) {
      const video = el('video', { autoplay: true, playsinline: true, class: 'mirrored' });
      video.muted = true;
      const label = el('p', { class: 'tile-name' }, 'You');
      const flags = el('p', { class: 'tile-flags' });
      this.selfTile = { li: el('li', { class: 'tile self', 'data-participant': 'self' }, [video, label, flags]), video, flags };
      this.tiles.prepend(this.selfTile.li);
    }
    this.#refreshSelf();
    this.#renderControls();
    this.session.setMedia({ audio: this.micOn, video: this.cameraOn, screen: false });
  }

  #refreshSelf() {
    if (!this.selfTile) return;
    const { video, flags } = this.selfTile;
    const showing = this.screen ? new MediaStream([this.screen]) : this.local.stream;
    if (video.srcObject !== showing) {
      video.srcObject = showing;
      video.play?.().catch(() => {});
    }
    video.classList.toggle('mirrored', !this.screen);
    video.hidden = !this.screen && !this.cameraOn;
    this.selfTile.li.classList.toggle('no-video', video.hidden);
    flags.replaceChildren(...this.#flagItems({ audio: this.micOn, video: this.cameraOn, screen: !!this.screen }));
  }

  #renderControls() {
    const { mic, camera, share } = this.controls;
    const hasAudio = !!this.local.stream?.getAudioTracks().length;
    mic.disabled = !hasAudio;
    mic.setAttribute('aria-pressed', String(hasAudio && !this.micOn));
    mic.textContent = !hasAudio ? 'No microphone' : this.micOn ? 'Mute' : 'Unmute';
    camera.setAttribute('aria-pressed', String(!this.cameraOn));
    camera.textContent = this.cameraOn ? 'Turn camera off' : 'Turn camera on';
    share.setAttribute('aria-pressed', String(!!this.screen));
    share.textContent = this.screen ? 'Stop sharing' : 'Share screen';
  }

  toggleMic() {
    const tracks = this.local.stream?.getAudioTracks() ?? [];
    if (!tracks.length) return;
    this.micOn = !this.micOn;
    for (const t of tracks) t.enabled = this.micOn;
    this.#refreshSelf();
    this.#renderControls();
    this.session.setMedia({ audio: this.micOn });
    this.announce(this.micOn ? 'Your microphone is on.' : 'Your microphone is muted.');
  }

  async toggleCamera() {
    let tracks = this.local.stream?.getVideoTracks() ?? [];
    if (!this.cameraOn && !tracks.length) {
      // Joined without a camera (or it failed): try to open one now.
      try {
        const track = await openCamera(this.local.videoId);
        if (!this.local.stream) this.local.stream = new MediaStream();
        this.local.stream.addTrack(track);
        tracks = [track];
        if (!this.screen) await this.session.replaceVideoTrack(track);
      } catch {
        this.announce('Your camera could not be started.');
        return;
      }
    }
    this.cameraOn = !this.cameraOn;
    for (const t of tracks) t.enabled = this.cameraOn;
    this.#refreshSelf();
    this.#renderControls();
    this.session.setMedia({ video: this.cameraOn || !!this.screen });
    this.announce(this.cameraOn ? 'Your camera is on.' : 'Your camera is off.');
  }

  async startShare() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (e) {
      if (e?.name !== 'NotAllowedError') this.announce('Your screen could not be shared.');
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    this.screen = track;
    // The browser's own "Stop sharing" ends the track: go back to the camera.
    track.addEventListener('ended', () => {
      if (this.screen === track) this.stopShare().catch(() => {});
    });
    await this.session.replaceVideoTrack(track);
    this.#refreshSelf();
    this.#renderControls();
    this.session.setMedia({ screen: true, video: true });
    this.announce('You are sharing your screen.');
  }

  async stopShare() {
    const track = this.screen;
    if (!track) return;
    this.screen = null;
    track.stop();
    const camera = this.local.stream?.getVideoTracks()[0] ?? null;
    await this.session.replaceVideoTrack(camera);
    this.#refreshSelf();
    this.#renderControls();
    this.session.setMedia({ screen: false, video: this.cameraOn });
    this.announce('You stopped sharing your screen.');
  }

  /** Ends everything this view holds (leaving, visit ended). */
  teardown() {
    if (this.screen) {
      this.screen.stop();
      this.screen = null;
    }
    for (const id of [...this.remote.keys()]) this.#removeTile(id);
    if (this.selfTile) {
      this.selfTile.video.srcObject = null;
      this.selfTile.li.remove();
      this.selfTile = null;
    }
  }

  /** Stops the camera and microphone (the page is done with them). */
  releaseDevices() {
    stopStream(this.local.stream);
  }

  // ---- the others' tiles -------------------------------------------------------

  #tile(participant) {
    let tile = this.remote.get(participant);
    if (tile) return tile;
    const video = el('video', { autoplay: true, playsinline: true });
    const name = el('p', { class: 'tile-name' });
    const flags = el('p', { class: 'tile-flags' });
    const qualityEl = el('p', { class: 'tile-quality', hidden: true });
    const unmute = el('button', { type: 'button', class: 'button small tile-unmute', hidden: true });
    const li = el('li', { class: 'tile', 'data-participant': participant }, [video, name, flags, qualityEl, unmute]);
    tile = { li, video, name, flags, qualityEl, unmute, media: { audio: true, video: true, screen: false } };
    unmute.addEventListener('click', () => {
      video.muted = false;
      video.play().catch(() => {});
      unmute.hidden = true;
    });
    this.remote.set(participant, tile);
    this.tiles.append(li);
    this.#rename(participant);
    return tile;
  }

  #rename(participant) {
    const tile = this.remote.get(participant);
    if (!tile) return;
    const name = this.session.nameOf(participant);
    tile.name.textContent = name;
    tile.li.setAttribute('aria-label', name);
    tile.video.setAttribute('aria-label', `Video of ${name}`);
    tile.unmute.textContent = `Turn on sound from ${name}`;
  }

  #renameAll() {
    for (const id of this.remote.keys()) this.#rename(id);
  }

  #onTrack({ participant, stream, track }) {
    const fresh = !this.remote.has(participant);
    const tile = this.#tile(participant);
    if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
    this.#play(tile);
    this.#refreshTile(tile);
    if (fresh) this.announce(`${this.session.nameOf(participant)} joined the call.`);
    track.addEventListener?.('unmute', () => this.#refreshTile(tile));
    track.addEventListener?.('mute', () => this.#refreshTile(tile));
  }

  #play(tile) {
    const p = tile.video.play?.();
    p?.catch?.((e) => {
      if (e?.name !== 'NotAllowedError') return;
      // The browser refused sound before any click: play muted, offer a button.
      tile.video.muted = true;
      tile.video.play().catch(() => {});
      tile.unmute.hidden = false;
    });
  }

  #onTrackRemoved({ participant, stream }) {
    const tile = this.remote.get(participant);
    if (!tile) return;
    const live = stream.getTracks().filter((t) => t.readyState !== 'ended');
    if (!live.length) this.#removeTile(participant);
    else this.#refreshTile(tile);
  }

  #removeTile(participant) {
    const tile = this.remote.get(participant);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.li.remove();
    this.remote.delete(participant);
  }

  #onEvent({ kind, event }) {
    const who = event?.participant_id ?? event?.participant;
    if (kind === 'participant_left' && typeof who === 'string') {
      this.#removeTile(who);
    }
  }

  #onMedia({ participant, audio, video, screen }) {
    const tile = this.remote.get(participant) ?? this.#tile(participant);
    tile.media = { audio, video, screen };
    this.#refreshTile(tile);
  }

  #refreshTile(tile) {
    const stream = tile.video.srcObject;
    const hasVideo = !!stream?.getVideoTracks?.().some((t) => t.readyState !== 'ended');
    const showVideo = hasVideo && (tile.media.video || tile.media.screen);
    tile.li.classList.toggle('no-video', !showVideo);
    tile.li.classList.toggle('sharing', !!tile.media.screen);
    tile.flags.replaceChildren(...this.#flagItems(tile.media));
  }

  #flagItems({ audio, video, screen }) {
    const items = [];
    if (!audio) items.push(el('span', { class: 'flag muted' }, 'Microphone off'));
    if (screen) items.push(el('span', { class: 'flag screen' }, 'Sharing screen'));
    else if (!video) items.push(el('span', { class: 'flag camera-off' }, 'Camera off'));
    return items;
  }

  #onStats(participants) {
    for (const s of participants) {
      const tile = this.remote.get(s.participant);
      if (!tile) continue;
      const q = quality(s);
      tile.qualityEl.hidden = false;
      tile.qualityEl.dataset.quality = q;
      const rtt = s.rtt_ms == null ? '' : `, ${Math.round(s.rtt_ms)} ms delay`;
      const loss = Number(s.packet_loss ?? 0);
      const lossPct = loss > 1 ? loss : loss * 100;
      tile.qualityEl.textContent = QUALITY_TEXT[q];
      tile.qualityEl.title = `${lossPct.toFixed(1)} % packets lost${rtt}`;
      tile.li.dataset.quality = q;
    }
  }
}
