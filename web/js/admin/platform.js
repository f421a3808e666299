// The platform console (platform.html): every organization with its admins,
// creating an organization and inviting its first admin, and the platform
// admins themselves (at least one always remains).

import { el } from '../dom.js';
import { startShell } from '../shell.js';
import { act, dateTime, emptyRow, row, showError } from './ui.js';

const OVERRIDES = {
  org_name_taken: 'An organization with this name already exists.',
  invalid_org_name: 'Enter the organization’s name (up to 200 characters).',
  not_found: 'No account uses this email. The person must have an account first.',
};

const shell = await startShell({ area: 'platform', page: 'platform' });
if (shell) {
  const { session, me } = shell;

  async function renderOrgs() {
    const body = document.querySelector('#orgs tbody');
    const error = document.getElementById('orgs-error');
    let orgs = [];
    try {
      orgs = await session.get('/api/v1/admin/organizations');
    } catch (err) {
      showError(error, err);
    }
    body.replaceChildren(...(orgs.length ? orgs.map(orgRow) : [emptyRow(4, 'No organizations yet.')]));
  }

  function orgRow(o) {
    const admins = o.admins.length
      ? el('ul', { class: 'plain' }, o.admins.map((a) => el('li', {}, `${a.display_name} (${a.email})${a.status === 'disabled' ? ' — disabled' : ''}`)))
      : el('span', { class: 'hint' }, 'No admin yet');
    const emailId = `admin-email-${o.id}`;
    const invite = el('form', { class: 'inline-form', novalidate: true }, [
      el('label', { for: emailId, class: 'visually-hidden' }, `Email of a new admin for ${o.name}`),
      el('input', { id: emailId, name: 'email', type: 'email', autocomplete: 'off', placeholder: 'Email of a new admin' }),
      el('button', { type: 'submit', class: 'button small' }, ['Invite admin', el('span', { class: 'visually-hidden' }, ` to ${o.name}`)]),
    ]);
    invite.addEventListener('submit', async (e) => {
      e.preventDefault();
      const email = invite.elements.email.value.trim();
      const ok = await act(
        invite.querySelector('button'),
        () => session.post(`/api/v1/orgs/${encodeURIComponent(o.id)}/members`, { email, role: 'admin' }),
        { done: `Invitation sent to ${email}.`, errorNode: document.getElementById('orgs-error'), overrides: OVERRIDES },
      );
      if (ok) invite.reset();
    });
    return row([el('strong', {}, o.name), dateTime(o.created_at), admins, invite], { 'data-org': o.id });
  }

  async function renderPlatformAdmins() {
    const body = document.querySelector('#platform-admins tbody');
    const error = document.getElementById('platform-admins-error');
    let admins = [];
    try {
      admins = await session.get('/api/v1/admin/platform-admins');
    } catch (err) {
      showError(error, err);
    }
    body.replaceChildren(
      ...admins.map((a) => {
        const remove = el('button', { type: 'button', class: 'button small danger' }, [
          'Remove',
          el('span', { class: 'visually-hidden' }, ` ${a.display_name} as platform admin`),
        ]);
        remove.addEventListener('click', () => {
          const self = a.user_id === me.id;
          const question = self
            ? 'Remove yourself as platform admin? You lose this console at once.'
            : `Remove ${a.display_name} as platform admin?`;
          if (!confirm(question)) return;
          act(remove, () => session.del(`/api/v1/admin/platform-admins/${encodeURIComponent(a.user_id)}`), {
            done: `${a.display_name} is no longer a platform admin.`,
            errorNode: error,
            overrides: OVERRIDES,
          }).then((ok) => {
            if (ok && self) location.replace('/');
            else if (ok) renderPlatformAdmins();
          });
        });
        return row([el('strong', {}, a.display_name), a.email, a.status === 'disabled' ? 'Disabled' : 'Active', remove], {
          'data-user': a.user_id,
        });
      }),
    );
  }

  const create = document.getElementById('create-org');
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = create.elements.name.value.trim();
    const ok = await act(create.querySelector('button[type=submit]'), () => session.post('/api/v1/orgs', { name }), {
      done: `${name} was created. Invite its first admin below.`,
      errorNode: document.getElementById('create-org-error'),
      overrides: OVERRIDES,
    });
    if (ok) {
      create.reset();
      await renderOrgs();
    }
  });

  const add = document.getElementById('add-platform-admin');
  add.addEventListener('submit', async (e) => {
    e.preventDefault();
    const email = add.elements.email.value.trim();
    const ok = await act(add.querySelector('button[type=submit]'), () => session.post('/api/v1/admin/platform-admins', { email }), {
      done: `${email} is now a platform admin.`,
      errorNode: document.getElementById('platform-admins-error'),
      overrides: OVERRIDES,
    });
    if (ok) {
      add.reset();
      await renderPlatformAdmins();
    }
  });

  await Promise.all([renderOrgs(), renderPlatformAdmins()]);
  document.getElementById('main').setAttribute('aria-busy', 'false');
}
