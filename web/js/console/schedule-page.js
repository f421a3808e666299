// The clinician console's Schedule page (`/web/schedule.html`): the day and
// week agenda of my own appointments, my weekly hours and my leave, per
// organization when I work in several.

import { startShell } from '../shell.js';
import { el } from '../dom.js';
import { Agenda } from './agenda.js';
import { Hours } from './hours.js';
import { Leave } from './leave.js';

const $ = (id) => document.getElementById(id);

const shell = await startShell({ area: 'console', page: 'schedule' });
if (shell) await start(shell);

async function start({ session, me, orgs }) {
  const settings = await session.get('/api/v1/me/notification-settings').catch(() => null);
  const zone = usableZone(settings?.time_zone);
  const ctx = { session, me, orgs, zone };
  $('zone-note').textContent = `Times are shown in ${zone}.`;
  const agenda = new Agenda(ctx, {
    day: $('agenda-day'), week: $('agenda-week'), prev: $('agenda-prev'), next: $('agenda-next'),
    today: $('agenda-today'), range: $('agenda-range'), status: $('agenda-status'), list: $('agenda-list'),
  });
  const hours = new Hours(ctx, { form: $('hours-form'), rows: $('hours-rows'), zone: $('hours-zone'), add: $('hours-add'), status: $('hours-status') });
  const leave = new Leave(ctx, {
    form: $('leave-form'), list: $('leave-list'), empty: $('leave-empty'), status: $('leave-status'),
    start: $('leave-start'), end: $('leave-end'), reason: $('leave-reason'),
  });
  const pick = $('schedule-org');
  pick.replaceChildren(...orgs.map((o) => el('option', { value: o.org_id }, o.org_name)));
  pick.closest('p').hidden = orgs.length < 2;
  const loadOrg = () => Promise.all([hours.load(pick.value), leave.load(pick.value)]);
  pick.addEventListener('change', loadOrg);
  await Promise.all([agenda.load(), loadOrg()]);
}

function usableZone(zone) {
  try {
    if (zone) {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return zone;
    }
  } catch {
    /* an unknown zone: the browser's own */
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
