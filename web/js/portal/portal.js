// The patient portal (`/web/portal.html`): appointments (upcoming, past,
// join, cancel, reschedule), booking, messages with the care team and the
// notification inbox, in four panels switched by the address's fragment
// (#appointments, #book, #messages, #notifications) so each has a link and the
// back button works. One socket (live.js) carries the messages and the
// personal events (notices, appointment changes) of every panel.

import { startShell } from '../shell.js';
import { LiveClient } from '../live.js';
import { el } from '../dom.js';
import { usableZone } from './time.js';
import { Appointments } from './appointments.js';
import { Booking } from './booking.js';
import { Threads } from './threads.js';
import { Inbox } from './inbox.js';

const PANELS = ['appointments', 'book', 'messages', 'notifications'];
const $ = (id) => document.getElementById(id);

const shell = await startShell({ area: 'portal', page: 'portal' });
if (shell) await start(shell);

async function start({ session, me, orgs }) {
  const announcer = $('announcer');
  const announce = (text) => {
    announcer.append(el('p', {}, text));
    while (announcer.childElementCount > 5) announcer.firstElementChild.remove();
  };
  const settings = await session.get('/api/v1/me/notification-settings').catch(() => null);
  const ctx = {
    session,
    me,
    orgs,
    zone: usableZone(settings?.time_zone),
    locale: settings?.locale || undefined,
    announce,
    show,
  };

  const live = new LiveClient({ getToken: ({ force }) => session.accessToken({ force }) });
  live.userEvents = true;
  session.addEventListener('token', (e) => live.refresh(e.detail.access_token).catch(() => {}));
  const conn = $('conn-status');
  live.addEventListener('state', (e) => {
    const { state } = e.detail;
    conn.hidden = false;
    conn.dataset.state = state;
    conn.textContent =
      state === 'open' ? 'Connected' : state === 'reconnecting' ? 'Reconnecting…' : state === 'connecting' ? 'Connecting…' : 'Not connected';
  });
  ctx.live = live;

  const appointments = new Appointments(ctx);
  const booking = new Booking(ctx);
  const threads = new Threads(ctx);
  const inbox = new Inbox(ctx);
  appointments.onReschedule = (a) => {
    booking.reschedule(a);
    show('book');
  };
  booking.onBooked = () => appointments.load();
  live.addEventListener('userevent', (e) => {
    const { kind } = e.detail;
    if (kind === 'notification') inbox.onNotice(e.detail.payload);
    else if (kind.startsWith('appointment.')) appointments.load();
  });
  live.start();

  function show(panel, { focus = true } = {}) {
    if (!PANELS.includes(panel)) panel = 'appointments';
    for (const p of PANELS) {
      $(p).hidden = p !== panel;
      const tab = $(`tab-${p}`);
      if (p === panel) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
    if (location.hash !== `#${panel}`) history.replaceState(null, '', `#${panel}`);
    document.title = `${$(`tab-${panel}`).firstChild.textContent.trim()} · My care · HealthBridge`;
    if (panel === 'notifications') inbox.markSeen();
    if (panel === 'messages') threads.shown();
    if (focus) $(`${panel}-title`).focus();
  }
  for (const p of PANELS) {
    $(`tab-${p}`).addEventListener('click', (e) => {
      e.preventDefault();
      history.pushState(null, '', `#${p}`);
      show(p);
    });
  }
  // In-page links (#book, #appointments) and the back button switch panels too.
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  show(location.hash.slice(1), { focus: false });

  await Promise.all([appointments.load(), booking.load(), threads.load(), inbox.load()]);
  $('portal-status').textContent = '';
  window.__hbPortal = { ready: true, live, appointments, threads, inbox };
}
