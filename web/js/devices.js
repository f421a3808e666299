// Camera and microphone for video visits: asking for them with fallbacks,
// naming what went wrong in plain language, listing devices, and a live
// microphone level (WebAudio AnalyserNode). No DOM here; the pages render.

/** What kind of failure a getUserMedia error is. */
export function mediaErrorKind(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return 'denied';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return 'notfound';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'inuse';
    case 'OverconstrainedError':
    case 'ConstraintNotSatisfiedError':
      return 'overconstrained';
    case 'TypeError':
      return 'unsupported';
    default:
      return 'other';
  }
}

/** A sentence for the person in front of the screen; `what` is "camera", "microphone" or "camera and microphone". */
export function mediaErrorMessage(kind, what = 'camera and microphone') {
  switch (kind) {
    case 'denied':
      return `Your browser is not allowing this page to use your ${what}. To allow it, select the camera or lock symbol next to the web address, set ${what} to "Allow", then select "Try again".`;
    case 'notfound':
      return `No ${what} was found. Check that it is plugged in and switched on, then select "Try again".`;
    case 'inuse':
      return `Your ${what} could not be started. Another program (such as another video call) may be using it. Close that program, then select "Try again".`;
    case 'overconstrained':
      return `The selected ${what} could not be used. Choose another one from the list.`;
    case 'insecure':
      return 'This page was not opened over a secure connection, so the browser does not allow the camera and microphone. Open the link exactly as you received it (it starts with https://).';
    case 'unsupported':
      return 'This browser cannot use a camera or microphone here. Try an up-to-date version of Chrome, Edge, Firefox or Safari.';
    default:
      return `Something went wrong while starting your ${what}. Select "Try again".`;
  }
}

function videoConstraints(deviceId) {
  const c = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } };
  if (deviceId) c.deviceId = { exact: deviceId };
  return c;
}

function audioConstraints(deviceId) {
  const c = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (deviceId) c.deviceId = { exact: deviceId };
  return c;
}

/**
 * Asks for the microphone and (unless `video` is false) the camera. When both
 * together fail it tries each alone, so a missing or blocked camera still
 * leaves the microphone (audio only), and the other way round.
 *
 * Resolves with `{stream, errors}`: `stream` is null when nothing could be
 * opened; `errors.audio` / `errors.video` are kinds from mediaErrorKind for
 * what is missing.
 */
export async function openLocalMedia({ audioId, videoId, video = true, mediaDevices = globalThis.navigator?.mediaDevices } = {}) {
  const errors = {};
  if (!mediaDevices?.getUserMedia) {
    // Browsers hide the camera from pages not served over https (or localhost).
    const kind = globalThis.isSecureContext === false ? 'insecure' : 'unsupported';
    errors.audio = kind;
    if (video) errors.video = kind;
    return { stream: null, errors };
  }
  const get = (audio, vid) =>
    mediaDevices.getUserMedia({
      audio: audio ? audioConstraints(audioId) : false,
      video: vid ? videoConstraints(videoId) : false,
    });
  if (video) {
    try {
      return { stream: await get(true, true), errors };
    } catch (e) {
      const both = mediaErrorKind(e);
      let stream = null;
      try {
        stream = await get(true, false);
      } catch (ea) {
        errors.audio = mediaErrorKind(ea);
      }
      if (stream) {
        // The microphone works alone: the camera is what failed.
        errors.video = both;
        try {
          const cam = await get(false, true);
          // Both work alone (a transient failure): use them together.
          for (const t of cam.getVideoTracks()) stream.addTrack(t);
          delete errors.video;
        } catch (ev) {
          errors.video = mediaErrorKind(ev);
        }
        return { stream, errors };
      }
      try {
        stream = await get(false, true);
      } catch (ev) {
        errors.video = mediaErrorKind(ev);
      }
      if (!errors.audio) errors.audio = both;
      return { stream, errors };
    }
  }
  try {
    return { stream: await get(true, false), errors };
  } catch (e) {
    errors.audio = mediaErrorKind(e);
    return { stream: null, errors };
  }
}

/** Only the camera (to turn it back on, or switch to another one). */
export async function openCamera(videoId, mediaDevices = globalThis.navigator?.mediaDevices) {
  const stream = await mediaDevices.getUserMedia({ audio: false, video: videoConstraints(videoId) });
  return stream.getVideoTracks()[0];
}

/** Only the microphone (to switch to another one). */
export async function openMicrophone(audioId, mediaDevices = globalThis.navigator?.mediaDevices) {
  const stream = await mediaDevices.getUserMedia({ audio: audioConstraints(audioId), video: false });
  return stream.getAudioTracks()[0];
}

/** Cameras and microphones, labelled (labels are empty before permission is given). */
export async function listDevices(mediaDevices = globalThis.navigator?.mediaDevices) {
  const out = { audioinput: [], videoinput: [] };
  if (!mediaDevices?.enumerateDevices) return out;
  let n = { audioinput: 0, videoinput: 0 };
  for (const d of await mediaDevices.enumerateDevices()) {
    if (!(d.kind in out) || !d.deviceId) continue;
    n[d.kind] += 1;
    const fallback = d.kind === 'audioinput' ? `Microphone ${n[d.kind]}` : `Camera ${n[d.kind]}`;
    out[d.kind].push({ id: d.deviceId, label: d.label || fallback });
  }
  return out;
}

/** Stops every track of a stream (camera light off). */
export function stopStream(stream) {
  for (const t of stream?.getTracks?.() ?? []) t.stop();
}

/**
 * A live microphone level: `onLevel(level)` about ten times a second with a
 * level between 0 and 1 (RMS of the signal, scaled so speech reaches the top
 * half). The AudioContext may start suspended until the page gets a click or
 * key press; `resume()` is called on the first one.
 */
export class LevelMeter {
  constructor(onLevel, { AudioContext = globalThis.AudioContext ?? globalThis.webkitAudioContext } = {}) {
    this.onLevel = onLevel;
    this.AudioContext = AudioContext;
    this.ctx = null;
    this.source = null;
    this.timer = null;
    this.resumeOnGesture = () => this.ctx?.resume?.().catch(() => {});
  }

  start(stream) {
    this.stop();
    const track = stream?.getAudioTracks?.()[0];
    if (!track || !this.AudioContext) {
      this.onLevel(0);
      return;
    }
    if (!this.ctx) {
      this.ctx = new this.AudioContext();
      globalThis.addEventListener?.('pointerdown', this.resumeOnGesture, { capture: true });
      globalThis.addEventListener?.('keydown', this.resumeOnGesture, { capture: true });
    }
    this.ctx.resume?.().catch(() => {});
    this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.ctx.createAnalyser();
    analyser.fftSize = 1024;
    this.source.connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    let smoothed = 0;
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      const rms = Math.sqrt(sum / data.length);
      // Speech sits around 0.02–0.2 RMS: a square-root scale makes it visible.
      const level = Math.min(1, Math.sqrt(rms * 5));
      smoothed = Math.max(level, smoothed * 0.8);
      this.onLevel(smoothed);
    }, 100);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    try {
      this.source?.disconnect();
    } catch {
      /* already disconnected */
    }
    this.source = null;
  }

  close() {
    this.stop();
    globalThis.removeEventListener?.('pointerdown', this.resumeOnGesture, { capture: true });
    globalThis.removeEventListener?.('keydown', this.resumeOnGesture, { capture: true });
    this.ctx?.close?.().catch(() => {});
    this.ctx = null;
  }
}
