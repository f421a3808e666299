// Notifications that could not be delivered, with "Try again". The message
// text is never shown (it may hold clinical detail); what it was, to whom,
// and what went wrong are.

import { el } from '../dom.js';
import { act, dateTime, emptyRow, row } from './ui.js';

const OVERRIDES = {
  notification_not_failed: 'This notification is no longer failed; it may already be on its way.',
  notification_expired: 'Too late to send this one: its moment has passed.',
  notification_content_gone:
    'This message held a one-time link that is no longer kept. Send a new one instead (for an invitation: revoke it and invite again).',
};

const KINDS = {
  'appointment.booked': 'Booking confirmation',
  'appointment.cancelled': 'Cancellation notice',
  'appointment.rescheduled': 'New appointment time',
  'appointment.reminder': 'Appointment reminder',
  'critical.alert': 'Urgent alert',
  'message.unread': 'New message',
  'org.invite': 'Invitation',
  'room.referral': 'Referral notice',
  'account.verify_email': 'Email confirmation',
  'account.password_reset': 'Password reset',
  'account.register_attempt': 'Sign-up notice',
  'visit.link': 'Video visit link',
};

/** Loads the failed notifications of `org`; `names` maps user ids to names. */
export async function renderFailed(session, org, names) {
  const body = document.querySelector('#failed tbody');
  const error = document.getElementById('failed-error');
  const base = `/api/v1/orgs/${encodeURIComponent(org.org_id)}/notifications`;
  let failed = [];
  try {
    failed = await session.get(`${base}?status=failed`);
  } catch (err) {
    await act(null, () => Promise.reject(err), { errorNode: error });
  }
  body.replaceChildren(
    ...(failed.length
      ? failed.map((n) => {
          const who = names.get(n.recipient_id) ?? (n.recipient_id ? 'A former member' : 'An invited address');
          const retry = el('button', { type: 'button', class: 'button small' }, [
            'Try again',
            el('span', { class: 'visually-hidden' }, ` (${KINDS[n.template] ?? 'notification'} to ${who})`),
          ]);
          retry.addEventListener('click', () =>
            act(retry, () => session.post(`${base}/${encodeURIComponent(n.id)}/retry`, {}), {
              done: 'Sending it again.',
              errorNode: error,
              overrides: OVERRIDES,
            }).then((ok) => ok && renderFailed(session, org, names)),
          );
          return row([KINDS[n.template] ?? 'Notification', who, channel(n.channel), dateTime(n.created_at), retry], {
            'data-notification': n.id,
          });
        })
      : [emptyRow(5, 'No failed notifications.')]),
  );
}

function channel(c) {
  if (c === 'sms' || c === 'file_sms') return 'Text message';
  if (c === 'email' || c === 'file_email') return 'Email';
  if (c === 'in_app') return 'In the app';
  return 'Not sent';
}
