// The patient's (or guest's) video visit page: `/visit#t=<token>` from a
// link, or `/web/visit.html?id=<visit>` for a signed-in patient joining from
// the portal (account mode: the socket authenticates with the account, whose
// part in the visit the hub derives from it being the visit's patient; no
// link is needed).
//
// The link's token travels in the URL fragment, which the browser never sends
// to a server. The page removes it from the address bar at once, keeps it in
// this tab's sessionStorage (a reload must not lose the visit), and exchanges
// it for a visit pass (POST /api/v1/visit-links/redeem). Then: the camera and
// microphone check, "Join" (the socket authenticates with the pass and sends
// visit_join), the waiting room, and the call once a host admits (see
// visit-media.js for the signaling, visit-call.js for the call view).

import { ApiError, Session, redeemVisitLink } from './api.js';
import { el, formatTime, setFlash } from './dom.js';
import { explain, untilText } from './messages.js';
import { LevelMeter, listDevices, mediaErrorMessage, openLocalMedia, stopStream } from './devices.js';
import { LiveClient } from './live.js';
import { CallView } from './visit-call.js';
import { VisitSession, waitingQueue } from './visit-media.js';

const LINK_KEY = 'healthbridge.visit-link';
/** Redeem the link again this long before the pass expires. */
const PASS_REFRESH_MARGIN_MS = 60_000;

const $ = (id) => document.getElementById(id);
const sections = ['loading', 'link-error', 'check', 'waiting', 'call', 'done'];

const ui = {
  conn: $('conn-status'),
  loadingStatus: $('loading-status'),
  linkErrorText: $('link-error-text'),
  linkRetry: $('link-retry'),
  visitWhen: $('visit-when'),
  myName: $('my-name'),
  preview: $('preview'),
  previewOff: $('preview-off'),
  cameraSelect: $('camera-select'),
  micSelect: $('mic-select'),
  micLevel: $('mic-level'),
  deviceProblem: $('device-problem'),
  deviceProblemText: $('device-problem-text'),
  deviceProblemNext: $('device-problem-next'),
  retryDevices: $('retry-devices'),
  checkStatus: $('check-status'),
  join: $('join'),
  joinError: $('join-error'),
  opensAt: $('opens-at'),
  waitingText: $('waiting-text'),
  waitingPosition: $('waiting-position'),
  waitingPreview: $('waiting-preview'),
  waitingLeave: $('waiting-leave'),
  callTitle: $('call-title'),
  callStatus: $('call-status'),
  tiles: $('tiles'),
  mic: $('toggle-mic'),
  camera: $('toggle-camera'),
  share: $('toggle-share'),
  leave: $('leave'),
  doneTitle: $('done-title'),
  doneText: $('done-text'),
  rejoin: $('rejoin'),
  announcer: $('announcer'),
};

// ---- the link ----------------------------------------------------------------

function storage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

const fragment = new URLSearchParams(location.hash.slice(1));
history.replaceState(null, '', location.pathname + location.search);
let linkToken = fragment.get('t');
/** Account mode: the visit named in the address, joined with the signed-in account. */
const accountVisitId = linkToken ? null : new URLSearchParams(location.search).get('id');
/** The signed-in session in account mode. */
let account = null;
if (linkToken) {
  try {
    storage()?.setItem(LINK_KEY, linkToken);
  } catch {
    /* storage disabled: a reload then needs the link again */
  }
} else if (!accountVisitId) {
  linkToken = storage()?.getItem(LINK_KEY) ?? null;
}

let pass = null; // the redeem answer
let passTimer = null;
let live = null;
let session = null;
let call = null;
const local = { stream: null, audioId: '', videoId: '', wantVideo: true };
let meter = null;

/** For the end-to-end test: the peer connection, the session and the phases it went through. */
window.__hbVisit = {
  phases: [],
  get pc() {
    return session?.pc ?? null;
  },
  get session() {
    return session;
  },
  get phase() {
    return session?.phase ?? 'idle';
  },
};

function show(id, { focus = true } = {}) {
  for (const s of sections) $(s).hidden = s !== id;
  if (focus) {
    const heading = $(id).querySelector('h1');
    heading?.focus({ preventScroll: false });
  }
}

function announce(text) {
  const line = el('p', {}, text);
  ui.announcer.append(line);
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
}

function linkProblem(text, { retry = false } = {}) {
  ui.linkErrorText.textContent = text;
  ui.linkRetry.hidden = !retry;
  show('link-error');
}

function linkErrorText(e) {
  switch (e?.code) {
    case 'link_expired':
      return 'This visit link has expired. Please ask the clinic for a new link.';
    case 'link_revoked':
      return 'This visit link is no longer valid. Please ask the clinic for a new link.';
    case 'link_invalid':
    case 'invalid_field':
      return 'This visit link is not valid. Check that you opened the whole link from your message, or ask the clinic for a new one.';
    case 'visit_ended':
      return 'This visit has ended. Please contact the clinic if you need a new appointment.';
    case 'visit_not_found':
      return 'This visit could not be found for your account. Open it again from your appointments.';
    case 'network_error':
      return 'The visit service could not be reached. Check your internet connection and try again.';
    default:
      return `Your visit could not be opened. ${explain(e)}`;
  }
}

async function redeem() {
  const answer = await redeemVisitLink(linkToken);
  pass = answer;
  schedulePassRefresh();
  return answer;
}

/** The pass is short-lived: redeem the link again before it expires and hand the new pass to the socket. */
function schedulePassRefresh() {
  clearTimeout(passTimer);
  const expires = Date.parse(pass?.expires_at ?? '');
  if (!Number.isFinite(expires)) return;
  const wait = Math.max(5_000, expires - Date.now() - PASS_REFRESH_MARGIN_MS);
  passTimer = setTimeout(async () => {
    try {
      await redeem();
      await live?.refresh(pass.pass);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        endWith('This visit link is no longer valid', linkErrorText(e));
      } else {
        passTimer = setTimeout(schedulePassRefresh, 10_000);
      }
    }
  }, Math.min(wait, 2 ** 31 - 1));
}

ui.linkRetry.addEventListener('click', () => start());

async function start() {
  show('loading', { focus: false });
  if (accountVisitId) return startWithAccount();
  if (!linkToken) {
    linkProblem('This page needs the full link from your visit invitation. Open the link from your message again.');
    return;
  }
  ui.loadingStatus.textContent = 'Checking your link…';
  try {
    await redeem();
  } catch (e) {
    if (e?.code === 'visit_ended') {
      endWith('This visit has ended', 'Please contact the clinic if you need a new appointment.');
      return;
    }
    linkProblem(linkErrorText(e), { retry: e?.code === 'network_error' || !(e instanceof ApiError) || e.status >= 500 });
    return;
  }
  await openCheck();
}

/** Account mode: the visit as the signed-in patient's account sees it (no link, no pass). */
async function startWithAccount() {
  ui.loadingStatus.textContent = 'Opening your visit…';
  account = await Session.resume();
  if (!account) {
    setFlash('Please sign in to join your video visit.');
    location.replace('/');
    return;
  }
  let visit;
  try {
    const me = await account.me();
    visit = await account.get(`/api/v1/visits/${encodeURIComponent(accountVisitId)}`);
    const mine = visit.participants.find((p) => p.user_id === me.id);
    if (mine?.role === 'host') {
      // Hosts admit from the console; this page has no host controls.
      location.replace(`/web/visits.html#visit=${encodeURIComponent(visit.id)}`);
      return;
    }
    pass = {
      visit_id: visit.id,
      display_name: mine?.display_name ?? me.display_name,
      scheduled_at: visit.scheduled_at,
      opens_at: visit.opens_at,
    };
  } catch (e) {
    linkProblem(linkErrorText(e), { retry: e?.code === 'network_error' || !(e instanceof ApiError) || e.status >= 500 });
    return;
  }
  if (['ended', 'no_show', 'cancelled'].includes(visit.state)) {
    endWith(
      visit.state === 'cancelled' ? 'The visit was cancelled' : 'This visit has ended',
      'Please contact the clinic if you need a new appointment.',
    );
    return;
  }
  await openCheck({ live: visit.state === 'live' || visit.state === 'waiting' });
}

/** The device check, with "Join" held until the waiting room opens. */
async function openCheck({ live = false } = {}) {
  ui.myName.textContent = pass.display_name || 'a guest';
  ui.visitWhen.textContent = pass.scheduled_at ? `the visit at ${formatTime(pass.scheduled_at)}` : 'your visit';
  show('check');
  await openDevices();
  if (!live) holdUntilOpen();
}

let opensTimer = null;
/** Before `opens_at`: "This visit opens at 10:30 (in 25 minutes)" and no Join yet. */
function holdUntilOpen() {
  clearTimeout(opensTimer);
  const opens = Date.parse(pass?.opens_at ?? '');
  const wait = opens - Date.now();
  if (!Number.isFinite(wait) || wait <= 0) {
    ui.opensAt.hidden = true;
    ui.join.disabled = false;
    return;
  }
  ui.join.disabled = true;
  ui.opensAt.hidden = false;
  ui.opensAt.textContent = `This visit opens at ${formatTime(pass.opens_at)} (${untilText(wait)}). Keep this page open: you can join then.`;
  opensTimer = setTimeout(holdUntilOpen, Math.max(250, Math.min(wait, 60_000 - (Date.now() % 60_000))));
}

// ---- camera and microphone check ---------------------------------------------

async function openDevices() {
  ui.join.disabled = true;
  ui.deviceProblem.hidden = true;
  ui.checkStatus.textContent = 'Starting your camera and microphone…';
  stopStream(local.stream);
  const { stream, errors } = await openLocalMedia({
    audioId: local.audioId || undefined,
    videoId: local.videoId || undefined,
    video: local.wantVideo,
  });
  local.stream = stream;
  showPreview();
  await fillDeviceLists();
  meter ??= new LevelMeter((level) => {
    ui.micLevel.value = level;
  });
  meter.start(stream);
  describeDevices(errors);
  ui.join.disabled = false;
  if (opensTimer) holdUntilOpen();
}

function showPreview() {
  const hasVideo = !!local.stream?.getVideoTracks().length;
  ui.preview.srcObject = hasVideo ? local.stream : null;
  ui.waitingPreview.srcObject = hasVideo ? local.stream : null;
  ui.preview.hidden = !hasVideo;
  ui.previewOff.hidden = hasVideo;
  ui.waitingPreview.closest('.preview').hidden = !hasVideo;
  if (hasVideo) ui.preview.play().catch(() => {});
}

function describeDevices(errors) {
  const audioBad = !!errors.audio;
  const videoBad = !!errors.video && local.wantVideo;
  if (!audioBad && !videoBad) {
    ui.checkStatus.textContent = local.wantVideo
      ? 'Your camera and microphone are working.'
      : 'Your microphone is working. Your camera is off.';
    ui.join.textContent = local.wantVideo ? 'Join the visit' : 'Join with audio only';
    return;
  }
  ui.checkStatus.textContent = '';
  let text;
  let next;
  if (audioBad && videoBad) {
    const same = errors.audio === errors.video;
    text = same
      ? mediaErrorMessage(errors.audio, 'camera and microphone')
      : `${mediaErrorMessage(errors.video, 'camera')} ${mediaErrorMessage(errors.audio, 'microphone')}`;
    next = 'You can still join: you will see and hear the others, but they will not see or hear you.';
    ui.join.textContent = 'Join without camera and microphone';
  } else if (videoBad) {
    text = mediaErrorMessage(errors.video, 'camera');
    next = 'You can join with audio only: the others will hear you but not see you.';
    ui.join.textContent = 'Join with audio only';
  } else {
    text = mediaErrorMessage(errors.audio, 'microphone');
    next = 'You can still join: the others will see you but not hear you.';
    ui.join.textContent = 'Join without microphone';
  }
  ui.deviceProblemText.textContent = text;
  ui.deviceProblemNext.textContent = next;
  ui.deviceProblem.hidden = false;
}

async function fillDeviceLists() {
  const devices = await listDevices().catch(() => ({ audioinput: [], videoinput: [] }));
  const fill = (select, list, current, kind, noneText) => {
    const activeId = local.stream
      ?.getTracks()
      .find((t) => t.kind === kind)
      ?.getSettings?.().deviceId;
    const options = list.map((d) => el('option', { value: d.id }, d.label));
    if (!options.length) options.push(el('option', { value: '' }, noneText));
    select.replaceChildren(...options);
    select.value = activeId || current || list[0]?.id || '';
    select.disabled = list.length < 2 && !!activeId;
  };
  fill(ui.cameraSelect, devices.videoinput, local.videoId, 'video', 'No camera found');
  fill(ui.micSelect, devices.audioinput, local.audioId, 'audio', 'No microphone found');
  if (!local.wantVideo) {
    ui.cameraSelect.replaceChildren(el('option', { value: '' }, 'Camera off'), ...ui.cameraSelect.children);
    ui.cameraSelect.value = '';
    ui.cameraSelect.disabled = false;
  } else if (devices.videoinput.length) {
    ui.cameraSelect.append(el('option', { value: 'off' }, 'Turn camera off'));
    ui.cameraSelect.disabled = false;
  }
}

ui.cameraSelect.addEventListener('change', () => {
  const v = ui.cameraSelect.value;
  if (v === 'off' || v === '') {
    local.wantVideo = false;
  } else {
    local.wantVideo = true;
    local.videoId = v;
  }
  openDevices().catch(() => {});
});

ui.micSelect.addEventListener('change', () => {
  local.audioId = ui.micSelect.value;
  openDevices().catch(() => {});
});

ui.retryDevices.addEventListener('click', () => {
  local.wantVideo = true;
  openDevices().catch(() => {});
});

// ---- joining -----------------------------------------------------------------

ui.join.addEventListener('click', () => join());
ui.rejoin.addEventListener('click', async () => {
  ui.rejoin.hidden = true;
  // The visit may have ended since we left: then there is nothing to join.
  if (await visitIsOver()) {
    endWith('This visit has ended', 'Please contact the clinic if you need a new appointment.');
    return;
  }
  show('check');
  openDevices().catch(() => {});
});

/** Asks the hub whether the visit is over (a left page no longer gets its events). */
async function visitIsOver() {
  try {
    if (account) {
      const visit = await account.get(`/api/v1/visits/${encodeURIComponent(pass.visit_id)}`);
      return ['ended', 'no_show', 'cancelled'].includes(visit.state);
    }
    await redeem();
    return false;
  } catch (e) {
    return e?.code === 'visit_ended';
  }
}

function hostName() {
  const host = session?.visit?.participants?.find((p) => p.role === 'host');
  return host?.display_name || 'Your clinician';
}

function ensureLive() {
  if (live) return live;
  live = new LiveClient({
    // With force (the pass was refused or expired), redeem the link again; an
    // account's socket uses (and with force refreshes) the access token.
    getToken: async ({ force }) => {
      if (account) return account.accessToken({ force });
      if (force || !pass || Date.parse(pass.expires_at) - Date.now() < 5_000) await redeem();
      return pass.pass;
    },
  });
  live.addEventListener('state', (e) => {
    const { state } = e.detail;
    ui.conn.hidden = false;
    ui.conn.dataset.state = state;
    ui.conn.textContent =
      state === 'open' ? 'Connected' : state === 'reconnecting' ? 'Reconnecting…' : state === 'connecting' ? 'Connecting…' : 'Not connected';
  });
  live.addEventListener('authfailed', () => {
    if (account) endWith('You are signed out', 'Please sign in again and open the visit from your appointments.');
    else endWith('This visit link is no longer valid', 'Please ask the clinic for a new link.');
  });
  if (account) {
    account.addEventListener('token', (e) => live.refresh(e.detail.access_token).catch(() => {}));
  }
  live.start();
  return live;
}

function ensureSession() {
  if (session) return session;
  session = new VisitSession({ live: ensureLive(), visitId: pass.visit_id, localStream: () => local.stream });
  session.addEventListener('phase', (e) => {
    window.__hbVisit.phases.push(e.detail.phase);
    onPhase(e.detail);
  });
  session.addEventListener('visit', () => renderWaiting());
  session.addEventListener('event', (e) => onVisitEvent(e.detail));
  call = new CallView({
    session,
    tiles: ui.tiles,
    controls: { mic: ui.mic, camera: ui.camera, share: ui.share },
    local,
    announce,
  });
  return session;
}

async function join() {
  ui.join.disabled = true;
  ui.joinError.hidden = true;
  meter?.stop();
  ui.checkStatus.textContent = 'Joining…';
  ensureSession();
  try {
    await session.join();
  } catch (e) {
    ui.join.disabled = false;
    ui.checkStatus.textContent = '';
    if (['declined', 'visit_ended'].includes(e.code)) return; // the phase shows it
    const allowedAt = e.details?.allowed_at ?? pass?.opens_at;
    ui.joinError.textContent =
      e.code === 'too_early'
        ? `It is too early to join.${allowedAt ? ` This visit opens at ${formatTime(allowedAt)} (${untilText(Date.parse(allowedAt) - Date.now())}).` : ''}`
        : `You could not join the visit. ${explain(e)}`;
    ui.joinError.hidden = false;
  }
}

function onPhase({ phase, reason }) {
  switch (phase) {
    case 'waiting':
      renderWaiting();
      show('waiting');
      announce(ui.waitingText.textContent);
      break;
    case 'connecting':
    case 'reconnecting':
    case 'in_call':
      enterCall(phase);
      break;
    case 'left':
      leaveCall();
      ui.doneTitle.textContent = 'You left the visit';
      ui.doneText.textContent = 'You can join again while the visit is still going on.';
      ui.rejoin.hidden = false;
      show('done');
      break;
    case 'ended':
      if (reason === 'cancelled') endWith('The visit was cancelled', 'Please contact the clinic if you need a new appointment.');
      else if (reason === 'no_show') endWith('The visit was closed', 'Please contact the clinic if you need a new appointment.');
      else endWith('This visit has ended', 'Thank you. You can close this page now.');
      break;
    case 'declined':
      endWith(
        'You were not admitted to this visit',
        'The clinician could not let you in to this visit. If you think this is a mistake, please contact the clinic.',
      );
      break;
    case 'failed':
      leaveCall();
      ui.doneTitle.textContent = 'The visit could not be joined';
      ui.doneText.textContent = `${explain({ code: reason })} Please try again.`;
      ui.rejoin.hidden = false;
      show('done');
      break;
    default:
      break;
  }
}

function renderWaiting() {
  if (!session?.visit) return;
  const host = hostName();
  ui.waitingText.textContent = `${host} will let you in shortly.`;
  ui.callTitle.textContent = `Your visit with ${host}`;
  const queue = waitingQueue(session.visit);
  const index = queue.findIndex((p) => p.id === session.me?.id);
  let position = '';
  if (index === 0 && queue.length > 1) position = 'You are next.';
  else if (index > 0) position = `${index} ${index === 1 ? 'person is' : 'people are'} ahead of you.`;
  // An aria-live region: a change of position is read out.
  if (ui.waitingPosition.textContent !== position) ui.waitingPosition.textContent = position;
}

function enterCall(phase) {
  if ($('call').hidden) {
    show('call');
    call.showSelf();
    announce('You have been let in to the visit.');
  }
  ui.callStatus.dataset.state = phase;
  ui.callStatus.textContent =
    phase === 'in_call' ? 'Connected' : phase === 'reconnecting' ? 'Reconnecting…' : 'Connecting…';
  if (phase === 'reconnecting') announce('Connection lost. Reconnecting…');
}

function onVisitEvent({ kind, event }) {
  const who = event?.participant_id ?? event?.participant;
  if (typeof who !== 'string' || who === session.me?.id) return;
  const name = session.nameOf(who);
  if (kind === 'participant_left' && !$('call').hidden) announce(`${name} left the visit.`);
}

function leaveCall() {
  call?.teardown();
}

function endWith(title, text) {
  leaveCall();
  meter?.close();
  meter = null;
  stopStream(local.stream);
  local.stream = null;
  clearTimeout(passTimer);
  clearTimeout(opensTimer);
  session?.close();
  live?.stop();
  try {
    storage()?.removeItem(LINK_KEY);
  } catch {
    /* ignore */
  }
  ui.doneTitle.textContent = title;
  ui.doneText.textContent = text;
  ui.rejoin.hidden = true;
  show('done');
  announce(`${title}. ${text}`);
}

async function leave() {
  ui.leave.disabled = true;
  ui.waitingLeave.disabled = true;
  try {
    await session?.leave();
  } catch {
    /* the phase is "left" either way */
  } finally {
    ui.leave.disabled = false;
    ui.waitingLeave.disabled = false;
    stopStream(local.stream);
    local.stream = null;
  }
}

ui.leave.addEventListener('click', () => leave());
ui.waitingLeave.addEventListener('click', () => leave());

start().catch((e) => linkProblem(linkErrorText(e), { retry: true }));
