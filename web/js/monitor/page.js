// The live monitor page (web/monitor.html): an organization admin watches their
// organization, a platform admin everything or one organization. Snapshots are pushed
// over /ws every two seconds (docs/protocol.md, `monitor`); nothing here polls.
// When the server ends the watch (`monitor_ended`: the admin right was taken away)
// the page says so and stops.

import { startShell } from '../shell.js';
import { LiveClient } from '../live.js';
import { el } from '../dom.js';
import { explain } from '../messages.js';
import { agoText, nodeLosses } from './format.js';
import { renderSnapshot } from './render.js';

const REFUSED = {
  forbidden: 'Only organization admins and platform admins can open the live monitor.',
  invalid_request: 'Choose an organization to watch.',
};

const shell = await startShell({ area: ['admin', 'platform'], page: 'monitor' });
if (shell) await start(shell);

async function start({ session, me, areas }) {
  const select = document.getElementById('scope-select');
  const status = document.getElementById('monitor-status');
  const error = document.getElementById('monitor-error');
  const announcer = document.getElementById('node-announcer');
  const updated = document.getElementById('monitor-updated');

  const options = await scopeOptions(session, me, areas);
  select.replaceChildren(...options.map((o) => el('option', { value: o.value }, o.label)));
  select.disabled = options.length < 2;

  const live = new LiveClient({ getToken: ({ force }) => session.accessToken({ force }) });
  session.addEventListener('token', (e) => live.refresh(e.detail.access_token).catch(() => {}));

  let last = null;
  let lastAt = 0;
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  live.addEventListener('state', (e) => {
    const words = {
      connecting: 'Connecting…',
      open: 'Live: updates every 2 seconds',
      reconnecting: 'Connection lost. Reconnecting…',
      closed: 'Not connected',
    };
    status.textContent = words[e.detail.state] ?? '';
    status.dataset.state = e.detail.state;
  });
  live.addEventListener('monitor', (e) => {
    const snapshot = e.detail;
    // Only the node losses are announced; the figures update silently.
    const losses = last ? nodeLosses(last, snapshot) : [];
    if (losses.length) announcer.textContent = losses.join(' ');
    last = snapshot;
    lastAt = Date.now();
    showError('');
    renderSnapshot(snapshot);
    updated.textContent = 'Updated just now';
  });
  live.addEventListener('monitorerror', (e) => showError(explain(e.detail.error, REFUSED)));
  live.addEventListener('monitorended', () => {
    live.stop();
    select.disabled = true;
    status.textContent = 'Stopped';
    showError('Your access to the live monitor has ended: your account is no longer an admin here.');
  });
  live.addEventListener('authfailed', () => session.end('unauthenticated'));

  // "Updated 4 seconds ago" when pushes stop arriving (outside any live region).
  setInterval(() => {
    if (lastAt) updated.textContent = `Updated ${agoText(new Date(lastAt).toISOString())}`;
  }, 1000);

  const watch = async () => {
    const org = select.value || null;
    last = null;
    try {
      await live.monitor(org);
    } catch (e) {
      showError(explain(e, REFUSED));
    }
  };
  select.addEventListener('change', watch);
  live.monitorScope = { org: select.value || null };
  live.start();
}

/** What the person may watch: everything (platform admins) and their organizations. */
async function scopeOptions(session, me, areas) {
  const options = [];
  if (me.platform_admin) {
    options.push({ value: '', label: 'All organizations' });
    try {
      const orgs = await session.get('/api/v1/orgs');
      for (const org of orgs ?? []) options.push({ value: org.id, label: org.name });
    } catch {
      /* the whole platform is still watchable */
    }
    return options;
  }
  for (const m of areas.get('admin') ?? []) options.push({ value: m.org_id, label: m.org_name });
  return options;
}
