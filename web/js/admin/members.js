// Members and roles: change a role, remove a member, disable or re-enable an
// account. The server decides what is allowed (the last admin stays, an
// account of other organizations too is beyond this organization's reach);
// refusals are shown as sentences next to the table.

import { el } from '../dom.js';
import { ROLE_LABELS, act, emptyRow, row } from './ui.js';

const OVERRIDES = {
  account_beyond_org:
    'This person also belongs to another organization (or runs the platform), so only a platform admin can disable the account. You can remove them from this organization instead.',
  disabled_by_platform: 'A platform admin disabled this account. Only a platform admin can re-enable it.',
};

/** Loads and renders the members of `org` into `#members`. */
export async function renderMembers(session, org, me) {
  const body = document.querySelector('#members tbody');
  const error = document.getElementById('members-error');
  const base = `/api/v1/orgs/${encodeURIComponent(org.org_id)}/members`;
  let members;
  try {
    members = await session.get(base);
  } catch (err) {
    await act(null, () => Promise.reject(err), { errorNode: error });
    return [];
  }
  const reload = () => renderMembers(session, org, me);
  body.replaceChildren(
    ...(members.length
      ? members.map((m) => memberRow(session, base, m, m.user_id === me.id, error, reload))
      : [emptyRow(4, 'No members yet.')]),
  );
  return members;
}

function memberRow(session, base, m, isMe, error, reload) {
  const url = `${base}/${encodeURIComponent(m.user_id)}`;
  const disabled = m.status === 'disabled';
  const name = el('span', {}, [
    el('strong', {}, m.display_name),
    el('br'),
    el('span', { class: 'hint' }, m.email),
  ]);
  const state = el('span', { class: disabled ? 'state-tag off' : 'state-tag' }, disabled ? 'Disabled' : 'Active');
  if (isMe) {
    return row([name, ROLE_LABELS[m.role] ?? m.role, state, el('span', { class: 'hint' }, 'This is you')], {
      'data-user': m.user_id,
    });
  }
  const roleId = `role-${m.user_id}`;
  const select = el(
    'select',
    { id: roleId },
    Object.entries(ROLE_LABELS).map(([value, label]) => el('option', { value, selected: value === m.role }, label)),
  );
  const change = el('button', { type: 'button', class: 'button small' }, ['Change role', hidden(` of ${m.display_name}`)]);
  change.addEventListener('click', () =>
    act(change, () => session.put(url, { role: select.value }), {
      done: `${m.display_name} is now ${ROLE_LABELS[select.value].toLowerCase()}.`,
      errorNode: error,
      overrides: OVERRIDES,
    }).then((ok) => ok && reload()),
  );
  const toggle = el(
    'button',
    { type: 'button', class: 'button small', 'data-action': disabled ? 'enable' : 'disable' },
    [disabled ? 'Re-enable' : 'Disable', hidden(` the account of ${m.display_name}`)],
  );
  toggle.addEventListener('click', () =>
    act(toggle, () => session.post(`${url}/${disabled ? 'enable' : 'disable'}`, {}), {
      done: disabled
        ? `${m.display_name} can sign in again.`
        : `${m.display_name}'s account is disabled and signed out everywhere.`,
      errorNode: error,
      overrides: OVERRIDES,
    }).then((ok) => ok && reload()),
  );
  const remove = el('button', { type: 'button', class: 'button small danger' }, ['Remove', hidden(` ${m.display_name}`)]);
  remove.addEventListener('click', () => {
    if (!confirm(`Remove ${m.display_name} from this organization? They lose access at once.`)) return;
    act(remove, () => session.del(url), { done: `${m.display_name} was removed.`, errorNode: error, overrides: OVERRIDES }).then(
      (ok) => ok && reload(),
    );
  });
  const roleField = el('span', { class: 'inline-field' }, [
    el('label', { for: roleId, class: 'visually-hidden' }, `Role of ${m.display_name}`),
    select,
    change,
  ]);
  return row([name, roleField, state, el('span', { class: 'button-row' }, [toggle, remove])], {
    'data-user': m.user_id,
  });
}

function hidden(text) {
  return el('span', { class: 'visually-hidden' }, text);
}
