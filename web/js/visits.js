// The clinician's video visit console: today's visits with their waiting
// rooms (kept current by `user_event` pushes after `notifications`), and one
// open visit (`#visit=<id>`): its queue with Admit and Decline, participants,
// an interpreter invitation, and the call itself (visit-media.js does the
// signaling, visit-call.js the tiles and controls).

import { ApiError } from './api.js';
import { copyLink, el, formatTime } from './dom.js';
import { mediaErrorMessage, openLocalMedia, stopStream } from './devices.js';
import { LiveClient } from './live.js';
import { startShell } from './shell.js';
import { mountNewVisit, renderVisitControls } from './console/visit-controls.js';
import { CallView } from './visit-call.js';
import { VisitSession, eventKind, eventParticipant, quality, waitingQueue } from './visit-media.js';

const VISITS_REFRESH_MS = 60_000;

const $ = (id) => document.getElementById(id);

// The console is for clinicians: the shell refuses anyone else before
// anything loads (a patient must never be offered "Admit"; her visit opens
// from the portal).
const shell = await startShell({ area: 'console', page: 'visits' });
if (!shell) await new Promise(() => {}); // refused: nothing of the console runs
const { session } = shell;

const ui = {
  whoami: $('whoami'),
  conn: $('conn-status'),
  logout: $('logout'),
  list: $('visits-list'),
  listStatus: $('visits-status'),
  reload: $('visits-reload'),
  empty: $('visit-empty'),
  view: $('visit-view'),
  title: $('visit-title'),
  meta: $('visit-meta'),
  phase: $('visit-phase'),
  error: $('visit-error'),
  start: $('visit-start'),
  joinCall: $('visit-join'),
  end: $('visit-end'),
  queue: $('queue'),
  queueEmpty: $('queue-empty'),
  participants: $('participants'),
  inviteForm: $('invite-form'),
  inviteName: $('invite-name'),
  inviteSubmit: $('invite-submit'),
  inviteError: $('invite-error'),
  inviteResult: $('invite-result'),
  inviteFor: $('invite-for'),
  inviteLink: $('invite-link'),
  inviteCopy: $('invite-copy'),
  inviteStatus: $('invite-status'),
  call: $('call'),
  callStatus: $('call-status'),
  tiles: $('tiles'),
  mic: $('toggle-mic'),
  camera: $('toggle-camera'),
  share: $('toggle-share'),
  callLeave: $('call-leave'),
  announcer: $('announcer'),
};

const STATE_TEXT = {
  scheduled: 'Scheduled',
  waiting: 'Patient waiting',
  live: 'In progress',
  ended: 'Ended',
  no_show: 'No-show',
  cancelled: 'Cancelled',
};
const ROLE_TEXT = { host: 'Clinician', patient: 'Patient', guest: 'Guest' };
const PARTICIPANT_STATE_TEXT = {
  invited: 'Invited',
  waiting: 'Waiting',
  admitted: 'In the call',
  declined: 'Declined',
  left: 'Left',
};

let me = null; // GET /api/v1/me
const visits = new Map(); // visit id -> Visit
let current = null; // the open visit (see openVisit)
const refreshing = new Map(); // visit id -> timer (debounced reloads)

/** For the end-to-end test: the open visit's peer connection and session. */
window.__hbVisit = {
  phases: [],
  get pc() {
    return current?.vs?.pc ?? null;
  },
  get session() {
    return current?.vs ?? null;
  },
  get phase() {
    return current?.vs?.phase ?? 'idle';
  },
};

// ---- session and socket -------------------------------------------------

// The shell says why and goes to sign-in; the socket stops here.
session.addEventListener('ended', () => live.stop());

const live = new LiveClient({
  getToken: ({ force }) => session.accessToken({ force }),
});
live.userEvents = true;

session.addEventListener('token', (e) => {
  live.refresh(e.detail.access_token).catch(() => {});
});

live.addEventListener('state', (e) => {
  const { state, delay } = e.detail;
  ui.conn.hidden = false;
  ui.conn.dataset.state = state;
  ui.conn.textContent =
    state === 'open'
      ? 'Connected'
      : state === 'connecting'
        ? 'Connecting…'
        : state === 'reconnecting'
          ? `Connection lost. Reconnecting${delay >= 1000 ? ` in ${Math.round(delay / 1000)} s` : ''}…`
          : 'Not connected';
});

let openedOnce = false;
live.addEventListener('open', () => {
  // Pushes are live only: after a reconnect, reload what may have changed.
  if (openedOnce) loadVisits().catch(() => {});
  openedOnce = true;
});

live.addEventListener('authfailed', () => session.end('socket'));

live.addEventListener('userevent', (e) => {
  const { kind, payload } = e.detail;
  if (typeof kind !== 'string' || !kind.startsWith('visit.')) return;
  const visitId = payload?.visit_id ?? payload?.visit ?? payload?.state?.id ?? payload?.id;
  if (!visitId) {
    loadVisits().catch(() => {});
    return;
  }
  if (payload?.state?.id === visitId && Array.isArray(payload.state.participants)) {
    visits.set(visitId, payload.state);
    renderVisits();
    followOpenVisit(visitId, payload.state);
    announceOther(visitId, kind, payload);
  } else {
    scheduleRefresh(visitId, () => announceOther(visitId, kind, payload));
  }
});

/**
 * A clinician who left the call no longer follows the visit on the socket
 * (visit_leave detaches it); their `user_event`s keep the open visit current.
 */
function followOpenVisit(visitId, visit) {
  if (current?.id !== visitId) return;
  if (['left', 'failed', 'idle'].includes(current.vs.phase)) current.vs.updateVisit(visit);
}

/** Waiting patients of visits not open here are read out too. */
function announceOther(visitId, kind, payload) {
  if (current?.id === visitId || eventKind({ kind }) !== 'patient_waiting') return;
  const visit = visits.get(visitId);
  const who = eventParticipant(payload?.event ?? payload);
  const name = visit?.participants?.find((p) => p.id === who)?.display_name ?? 'A patient';
  announce(`${name} is waiting for the visit at ${formatTime(visit?.scheduled_at ?? '')}.`);
}

// ---- start ---------------------------------------------------------------

// The shell's "Sign out" ends the session; the call and socket stop first.
ui.logout.addEventListener('click', () => {
  closeVisit();
  live.stop();
});

ui.reload.addEventListener('click', () => loadVisits().catch(showListError));
window.addEventListener('hashchange', () => routeFromHash());

init().catch((e) => {
  if (!(e instanceof ApiError && e.status === 401)) showListError(e);
});

async function init() {
  me = shell.me;
  ui.whoami.dataset.userId = me.id;
  mountNewVisit({
    session,
    orgs: shell.orgs,
    onCreated: async (visit) => {
      await loadVisits().catch(() => {});
      location.hash = `visit=${encodeURIComponent(visit.id)}`;
    },
  });
  live.start();
  await loadVisits();
  routeFromHash();
  setInterval(() => {
    if (document.visibilityState === 'visible') loadVisits().catch(() => {});
  }, VISITS_REFRESH_MS);
}

// ---- the list of visits ---------------------------------------------------------

async function loadVisits() {
  if (!visits.size) ui.listStatus.textContent = 'Loading visits…';
  const body = await session.visits();
  const list = Array.isArray(body) ? body : body?.visits ?? [];
  visits.clear();
  for (const v of list) visits.set(v.id, v);
  if (current && !visits.has(current.id) && current.vs.visit) visits.set(current.id, current.vs.visit);
  renderVisits();
  ui.listStatus.textContent = visits.size ? '' : 'You have no video visits today.';
}

function scheduleRefresh(visitId, then) {
  clearTimeout(refreshing.get(visitId));
  refreshing.set(
    visitId,
    setTimeout(async () => {
      refreshing.delete(visitId);
      try {
        const v = await session.visit(visitId);
        visits.set(visitId, v);
        renderVisits();
        followOpenVisit(visitId, v);
        then?.();
      } catch {
        loadVisits().catch(() => {});
      }
    }, 150),
  );
}

function showListError(e) {
  ui.listStatus.textContent = `Could not load your visits: ${e.message}`;
}

function patientOf(visit) {
  return visit?.participants?.find((p) => p.role === 'patient');
}

function visitLabel(visit) {
  return `Visit with ${patientOf(visit)?.display_name ?? 'a patient'}`;
}

function renderVisits() {
  const focusedKey = ui.list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const sorted = [...visits.values()].sort((a, b) => String(a.scheduled_at).localeCompare(String(b.scheduled_at)));
  const items = sorted.map((visit) => {
    const queue = waitingQueue(visit);
    const link = el('a', { class: 'room-link', href: `#visit=${encodeURIComponent(visit.id)}`, 'data-visit-id': visit.id, 'data-key': `open:${visit.id}` }, [
      el('span', { class: 'room-link-title' }, [
        el('time', { datetime: visit.scheduled_at }, formatTime(visit.scheduled_at)),
        ' ',
        patientOf(visit)?.display_name ?? 'Patient',
      ]),
      el('span', { class: 'visit-state', 'data-state': visit.state }, STATE_TEXT[visit.state] ?? visit.state),
      queue.length
        ? el('span', { class: 'badge', 'data-waiting': String(queue.length) }, [
            el('span', { 'aria-hidden': 'true' }, String(queue.length)),
            el('span', { class: 'visually-hidden' }, `, ${queue.length} waiting`),
          ])
        : null,
    ]);
    if (current?.id === visit.id) link.setAttribute('aria-current', 'page');
    const waitingList = queue.length
      ? el(
          'ul',
          { class: 'mini-queue', 'aria-label': `Waiting for ${visitLabel(visit).toLowerCase()}` },
          queue.map((p) =>
            el('li', { 'data-participant': p.id }, [
              el('span', { class: 'mini-queue-name' }, `${p.display_name ?? 'Someone'} (${ROLE_TEXT[p.role] ?? p.role})`),
              el('span', { class: 'actions' }, [
                actionButton('Admit', p, () => admitFromList(visit.id, p.id), `admit:${visit.id}:${p.id}`),
                actionButton('Decline', p, () => declineFromList(visit.id, p.id), `decline:${visit.id}:${p.id}`),
              ]),
            ]),
          ),
        )
      : null;
    return el('li', { class: 'visit-item', 'data-visit-id': visit.id, 'data-state': visit.state }, [link, waitingList]);
  });
  ui.list.replaceChildren(...items);
  if (focusedKey) ui.list.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
}

function actionButton(label, participant, onClick, key) {
  const button = el('button', { type: 'button', class: `button small${label === 'Admit' ? ' primary' : ''}`, 'data-key': key }, [
    label,
    el('span', { class: 'visually-hidden' }, ` ${participant.display_name ?? ''}`),
  ]);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await onClick();
    } catch (e) {
      showVisitError(e);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** Admitting from the list opens the visit first (the host's call starts with the first admission). */
async function admitFromList(visitId, participantId) {
  if (current?.id !== visitId) {
    await openVisit(visitId);
    location.hash = `visit=${encodeURIComponent(visitId)}`;
  }
  await current.vs.admit(participantId);
}

async function declineFromList(visitId, participantId) {
  if (current?.id !== visitId) {
    await openVisit(visitId);
    location.hash = `visit=${encodeURIComponent(visitId)}`;
  }
  await current.vs.decline(participantId);
}

function routeFromHash() {
  const match = /^#visit=([^&]+)$/.exec(location.hash);
  const visitId = match ? decodeURIComponent(match[1]) : null;
  if (visitId && visitId !== current?.id) openVisit(visitId).catch(showVisitError);
  if (!visitId && current) closeVisit();
}

// ---- the open visit --------------------------------------------------------------

function closeVisit() {
  if (!current) return;
  const old = current;
  current = null;
  // Opening another visit takes this clinician out of this call (the visit goes on).
  if (old.vs.inSession || ['connecting', 'in_call', 'reconnecting'].includes(old.vs.phase)) {
    old.vs.leave().catch(() => {});
  }
  old.call.teardown();
  old.vs.close();
  stopStream(old.local.stream);
  ui.view.hidden = true;
  ui.empty.hidden = false;
  ui.call.hidden = true;
  renderVisits();
}

async function openVisit(visitId) {
  closeVisit();
  const local = { stream: null, videoId: '' };
  const vs = new VisitSession({ live, visitId, localStream: () => localMedia(state) });
  const call = new CallView({
    session: vs,
    tiles: ui.tiles,
    controls: { mic: ui.mic, camera: ui.camera, share: ui.share },
    local,
    announce,
  });
  const state = { id: visitId, vs, call, local, mediaAsked: null, stats: new Map(), log: [] };
  current = state;
  vs.addEventListener('phase', (e) => {
    window.__hbVisit.phases.push(e.detail.phase);
    if (current === state) renderPhase(state, e.detail);
  });
  vs.addEventListener('visit', (e) => {
    if (current !== state) return;
    visits.set(visitId, e.detail.visit);
    renderVisit(state);
    renderVisits();
  });
  vs.addEventListener('event', (e) => {
    if (current === state) onVisitEvent(state, e.detail);
  });
  vs.addEventListener('stats', (e) => {
    if (current !== state) return;
    for (const s of e.detail.participants) state.stats.set(s.participant, s);
    renderParticipants(state);
  });

  ui.empty.hidden = true;
  ui.view.hidden = false;
  ui.error.hidden = true;
  ui.call.hidden = true;
  ui.inviteResult.hidden = true;
  ui.inviteError.hidden = true;
  ui.tiles.replaceChildren();
  ui.phase.textContent = 'Opening the visit…';
  const known = visits.get(visitId);
  ui.title.textContent = known ? visitLabel(known) : 'Visit';
  if (known) renderVisit(state);
  renderVisits();
  ui.title.focus();

  try {
    await vs.join();
  } catch (e) {
    if (current !== state) return;
    // The visit can still be shown from REST (e.g. it is over).
    try {
      const v = await session.visit(visitId);
      if (current !== state) return;
      vs.visit = v;
      visits.set(visitId, v);
      renderVisit(state);
    } catch {
      /* the error below says enough */
    }
    showVisitError(e);
  }
}

/** The clinician's camera and microphone, opened when the call starts. */
function localMedia(state) {
  if (state.local.stream) return state.local.stream;
  state.mediaAsked ??= openLocalMedia({}).then(({ stream, errors }) => {
    state.local.stream = stream;
    if (errors.audio || errors.video) {
      const what = errors.audio && errors.video ? 'camera and microphone' : errors.video ? 'camera' : 'microphone';
      showVisitError({ message: `${mediaErrorMessage(errors.video ?? errors.audio, what)} You are in the call without it.` });
    }
    if (current === state) state.call.showSelf();
    return stream;
  });
  return state.mediaAsked;
}

function showVisitError(e) {
  const message =
    e?.code === 'visit_not_found' || e?.code === 'not_found'
      ? 'This visit does not exist or you are not one of its clinicians.'
      : e?.code === 'not_waiting'
        ? 'This person is no longer waiting.'
        : e?.message ?? String(e);
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function renderPhase(state, { phase }) {
  const text = {
    joining: 'Opening the visit…',
    watching: 'You are not in the call.',
    waiting: 'Waiting…',
    connecting: 'Connecting to the call…',
    in_call: 'You are in the call.',
    reconnecting: 'Connection lost. Reconnecting…',
    left: 'You left the call. The visit goes on until it is ended.',
    ended: 'This visit has ended.',
    declined: '',
    failed: 'The call could not be joined.',
  }[phase];
  ui.phase.textContent = text ?? '';
  const inCall = ['connecting', 'in_call', 'reconnecting'].includes(phase);
  ui.call.hidden = !inCall;
  ui.callStatus.dataset.state = phase;
  ui.callStatus.textContent = phase === 'in_call' ? 'Connected' : phase === 'reconnecting' ? 'Reconnecting…' : inCall ? 'Connecting…' : '';
  if (inCall && !state.call.selfTile && state.local.stream) state.call.showSelf();
  if (!inCall) {
    state.call.teardown();
    if (['left', 'ended', 'failed'].includes(phase)) {
      stopStream(state.local.stream);
      state.local.stream = null;
      state.mediaAsked = null;
    }
  }
  renderButtons(state);
}

function renderButtons(state) {
  const visit = state.vs.visit;
  const phase = state.vs.phase;
  const outside = ['watching', 'left', 'failed', 'idle'].includes(phase);
  ui.start.hidden = !(visit && ['scheduled', 'waiting'].includes(visit.state) && outside);
  ui.joinCall.hidden = !(visit?.state === 'live' && outside);
  ui.end.hidden = visit?.state !== 'live';
  const over = visit && ['ended', 'no_show', 'cancelled'].includes(visit.state);
  ui.inviteSubmit.disabled = !!over;
  ui.inviteName.disabled = !!over;
}

function renderVisit(state) {
  const visit = state.vs.visit ?? visits.get(state.id);
  if (!visit) return;
  ui.title.textContent = visitLabel(visit);
  ui.meta.textContent = `${formatTime(visit.scheduled_at)} · ${STATE_TEXT[visit.state] ?? visit.state}`;
  ui.meta.dataset.state = visit.state;
  const queue = waitingQueue(visit);
  ui.queue.replaceChildren(
    ...queue.map((p) =>
      el('li', { class: 'queue-item', 'data-participant': p.id }, [
        el('span', { class: 'queue-who' }, [
          el('span', { class: 'queue-name' }, p.display_name ?? 'Someone'),
          el('span', { class: 'queue-role' }, [
            ROLE_TEXT[p.role] ?? p.role,
            p.waiting_since ? [', waiting since ', el('time', { datetime: p.waiting_since }, formatTime(p.waiting_since))] : null,
          ].flat()),
        ]),
        el('span', { class: 'actions' }, [
          actionButton('Admit', p, () => state.vs.admit(p.id), `q-admit:${p.id}`),
          actionButton('Decline', p, () => state.vs.decline(p.id), `q-decline:${p.id}`),
        ]),
      ]),
    ),
  );
  ui.queueEmpty.hidden = queue.length > 0;
  renderParticipants(state);
  renderButtons(state);
  renderVisitControls({
    session,
    visit,
    onChanged: (changed) => {
      if (!changed) return scheduleRefresh(visit.id);
      visits.set(changed.id, changed);
      state.vs.updateVisit(changed);
      renderVisits();
      renderVisit(state);
    },
  });
}

function renderParticipants(state) {
  const visit = state.vs.visit ?? visits.get(state.id);
  if (!visit) return;
  const items = (visit.participants ?? []).map((p) => {
    const stats = state.stats.get(p.id);
    const q = p.state === 'admitted' && stats ? quality(stats) : null;
    const you = p.user_id && p.user_id === me?.id;
    return el('li', { class: 'participant', 'data-participant': p.id, 'data-state': p.state, 'data-quality': q }, [
      el('span', { class: 'participant-name' }, `${p.display_name ?? 'Someone'}${you ? ' (you)' : ''}`),
      el('span', { class: 'participant-role' }, ROLE_TEXT[p.role] ?? p.role),
      el('span', { class: 'participant-state' }, PARTICIPANT_STATE_TEXT[p.state] ?? p.state),
      q ? el('span', { class: 'quality', 'data-quality': q }, `${q[0].toUpperCase()}${q.slice(1)} connection`) : null,
    ]);
  });
  ui.participants.replaceChildren(...items);
}

function onVisitEvent(state, { kind, event }) {
  const who = eventParticipant(event);
  const mine = who && who === state.vs.me?.id;
  const name = typeof who === 'string' ? state.vs.nameOf(who, 'Someone') : 'Someone';
  let text = null;
  switch (kind) {
    case 'patient_waiting':
      text = `${name} is waiting.`;
      break;
    case 'admitted':
      if (!mine) text = `${name} was let in.`;
      break;
    case 'declined':
      text = `${name} was declined.`;
      break;
    case 'participant_left':
      if (!mine) text = event?.from === 'waiting' ? `${name} left the waiting room.` : `${name} left the visit.`;
      break;
    case 'started':
      text = 'The visit has started.';
      break;
    case 'ended':
      text = 'The visit has ended.';
      break;
    case 'cancelled':
      text = 'The visit was cancelled.';
      break;
    default:
      break;
  }
  if (text) announce(text);
}

// ---- host actions ----------------------------------------------------------------

ui.start.addEventListener('click', () => hostAction(ui.start, () => current.vs.start()));
ui.joinCall.addEventListener('click', () => hostAction(ui.joinCall, () => current.vs.join()));
ui.callLeave.addEventListener('click', () => hostAction(ui.callLeave, () => current.vs.leave()));

let endArmed = null;
ui.end.addEventListener('click', () => {
  // Two steps instead of a confirm() dialog: the first click asks, the second ends.
  if (!endArmed) {
    ui.end.textContent = 'Select again to end the visit for everyone';
    announce('Select the button again to end the visit for everyone.');
    endArmed = setTimeout(() => {
      endArmed = null;
      ui.end.textContent = 'End the visit for everyone';
    }, 6000);
    return;
  }
  clearTimeout(endArmed);
  endArmed = null;
  ui.end.textContent = 'End the visit for everyone';
  hostAction(ui.end, () => current.vs.end());
});

async function hostAction(button, action) {
  if (!current) return;
  button.disabled = true;
  ui.error.hidden = true;
  try {
    await action();
  } catch (e) {
    showVisitError(e);
  } finally {
    button.disabled = false;
  }
}

ui.inviteForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const state = current;
  if (!state) return;
  const name = ui.inviteName.value.trim();
  ui.inviteError.hidden = true;
  ui.inviteName.removeAttribute('aria-invalid');
  if (!name) {
    ui.inviteError.textContent = "Enter the interpreter's name.";
    ui.inviteError.hidden = false;
    ui.inviteName.setAttribute('aria-invalid', 'true');
    ui.inviteName.focus();
    return;
  }
  ui.inviteSubmit.disabled = true;
  try {
    const result = await session.inviteToVisit(state.id, name);
    if (current !== state) return;
    ui.inviteFor.textContent = name;
    ui.inviteLink.value = result.link?.url ?? result.url ?? '';
    ui.inviteLink.dataset.participant = result.participant_id ?? '';
    ui.inviteStatus.textContent = result.link?.expires_at
      ? `Send this link to ${name}. It works until ${formatTime(result.link.expires_at)}.`
      : `Send this link to ${name}.`;
    ui.inviteResult.hidden = false;
    ui.inviteName.value = '';
    ui.inviteLink.focus();
    ui.inviteLink.select();
    scheduleRefresh(state.id);
  } catch (err) {
    ui.inviteError.textContent = `The invitation could not be created: ${err.message}`;
    ui.inviteError.hidden = false;
  } finally {
    ui.inviteSubmit.disabled = false;
  }
});

ui.inviteCopy.addEventListener('click', () =>
  copyLink(ui.inviteLink, ui.inviteStatus, 'The link is copied. Paste it into a message to the interpreter.'),
);

function announce(text) {
  const line = el('p', {}, text.length > 300 ? `${text.slice(0, 300)}…` : text);
  ui.announcer.append(line);
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
}
