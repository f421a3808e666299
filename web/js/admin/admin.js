// The organization admin's page (admin.html): members and roles, invitations,
// settings and failed notifications of the chosen organization.

import { startShell } from '../shell.js';
import { renderOrgPicker, chosenOrg } from './org-pick.js';
import { renderMembers } from './members.js';
import { renderInvites, wireInviteForm } from './invites.js';
import { loadSettings, wireSettingsForm } from './settings.js';
import { renderFailed } from './failed.js';
import { announce } from './ui.js';

const shell = await startShell({ area: 'admin', page: 'admin' });
if (shell) {
  const { session, me, orgs } = shell;
  let org = chosenOrg(orgs);

  async function show() {
    const main = document.getElementById('main');
    main.setAttribute('aria-busy', 'true');
    document.getElementById('org-name').textContent = org.org_name;
    document.title = `${org.org_name} · Organization · HealthBridge`;
    const [members] = await Promise.all([renderMembers(session, org, me), renderInvites(session, org), loadSettings(session, org)]);
    const names = new Map(members.map((m) => [m.user_id, m.display_name]));
    await renderFailed(session, org, names);
    main.setAttribute('aria-busy', 'false');
  }

  wireInviteForm(session, () => org);
  wireSettingsForm(session, () => org, (name) => {
    org = { ...org, org_name: name };
    document.getElementById('org-name').textContent = name;
  });
  renderOrgPicker(orgs, org, async (next) => {
    org = next;
    await show();
    announce(`Showing ${org.org_name}.`);
  });
  await show();
}
