// Inviting people by email and the invitations still open. The invitation is
// mailed by the hub; its secret link is never shown here (only the mailbox's
// owner can accept it).

import { el } from '../dom.js';
import { ROLE_LABELS, act, dateTime, emptyRow, row, showError } from './ui.js';

/** Wires the invite form of `org` once; call `renderInvites` to refresh the list. */
export function wireInviteForm(session, getOrg) {
  const form = document.getElementById('invite-form');
  const error = document.getElementById('invite-error');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const org = getOrg();
    const email = form.elements.email.value.trim();
    const role = form.elements.role.value;
    if (!email) {
      showError(error, { code: 'invalid_email' });
      form.elements.email.focus();
      return;
    }
    const ok = await act(
      form.querySelector('button[type=submit]'),
      () => session.post(`/api/v1/orgs/${encodeURIComponent(org.org_id)}/members`, { email, role }),
      { done: `Invitation sent to ${email}.`, errorNode: error },
    );
    if (ok) {
      form.reset();
      await renderInvites(session, org);
    } else {
      form.elements.email.focus();
    }
  });
}

/** The organization's pending invitations, each with "Revoke". */
export async function renderInvites(session, org) {
  const body = document.querySelector('#invites tbody');
  const error = document.getElementById('invite-error');
  const base = `/api/v1/orgs/${encodeURIComponent(org.org_id)}/invites`;
  let invites = [];
  try {
    invites = (await session.get(base)).filter((i) => i.status === 'pending');
  } catch (err) {
    showError(error, err);
  }
  body.replaceChildren(
    ...(invites.length
      ? invites.map((i) => {
          const revoke = el('button', { type: 'button', class: 'button small' }, [
            'Revoke',
            el('span', { class: 'visually-hidden' }, ` the invitation to ${i.email}`),
          ]);
          revoke.addEventListener('click', () =>
            act(revoke, () => session.del(`${base}/${encodeURIComponent(i.id)}`), {
              done: `The invitation to ${i.email} was revoked.`,
              errorNode: error,
            }).then((ok) => ok && renderInvites(session, org)),
          );
          return row([i.email, ROLE_LABELS[i.role] ?? i.role, dateTime(i.expires_at), revoke], { 'data-invite': i.id });
        })
      : [emptyRow(4, 'No open invitations.')]),
  );
}
