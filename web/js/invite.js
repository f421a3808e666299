// Invite links from email: `/invite#token=<token>`. The token travels in the URL
// fragment, which the browser never sends to a server; this page removes it from
// the address bar and posts it to the API (docs/api.md, `POST /invites/accept`).
// An invitee without an account creates one here; one with an account signs in
// (or is signed in already) and accepts into it.

import { ApiError, Session, login } from './api.js';
import { explain } from './messages.js';

const token = new URLSearchParams(location.hash.slice(1)).get('token');
history.replaceState(null, '', location.pathname);

const $ = (id) => document.getElementById(id);
const cards = ['signed-in', 'create-form', 'sign-in-form', 'done', 'invalid'];

function show(id) {
  for (const card of cards) $(card).hidden = card !== id;
  const first = $(id).querySelector('input, button');
  if (first) first.focus();
}

function showError(boxId, message) {
  const box = $(boxId);
  box.textContent = message;
  box.hidden = !message;
}

/** Posts without a session; returns the body or throws an ApiError. */
async function postAnonymous(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'The hub could not be reached. Check your connection.');
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const error = data?.error ?? {};
  throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message, error.field);
}

const FINAL = {
  invite_expired: 'This invitation has expired. Ask for a new one.',
  invite_revoked: 'This invitation was withdrawn. Ask for a new one if you still need it.',
  invite_used: 'This invitation was already used. Sign in to continue.',
  not_found: 'This invitation link is not valid. Open the link from your email again, or ask for a new invitation.',
};

/** Shows the end of the road for the invite, or returns the message to show in the form. */
function handle(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
  if (FINAL[error.code]) {
    $('invalid-text').textContent = FINAL[error.code];
    show('invalid');
    return null;
  }
  switch (error.code) {
    case 'login_required':
      showError('sign-in-error', 'This email address already has an account. Sign in to accept the invitation.');
      show('sign-in-form');
      return null;
    case 'invite_email_mismatch':
      return 'This invitation was sent to a different email address than the account you are signed in with.';
    case 'already_member':
      return 'This account is already a member of the organization.';
    default:
      return explain(error);
  }
}

function accepted(result) {
  $('done-text').textContent = result.account_created
    ? `Your account is ready and you joined ${result.org_name}. Check your email to confirm your address, then sign in.`
    : `You joined ${result.org_name}.`;
  $('done-link').href = result.account_created ? '/' : '/web/app.html';
  $('done-link').textContent = result.account_created ? 'Sign in' : 'Open HealthBridge';
  show('done');
}

async function acceptSignedIn(session, errorBox) {
  try {
    accepted(await session.post('/api/v1/invites/accept', { token }));
  } catch (e) {
    const message = handle(e);
    if (message) showError(errorBox, message);
  }
}

async function start() {
  if (!token) {
    show('invalid');
    return;
  }
  let session = null;
  try {
    session = await Session.resume();
  } catch {
    /* the hub is unreachable: continue signed out */
  }
  if (session) {
    try {
      const me = await session.me();
      $('signed-in-name').textContent = `${me.display_name} (${me.email})`;
      show('signed-in');
      $('accept-here').addEventListener('click', () => acceptSignedIn(session, 'signed-in-error'));
      $('switch-account').addEventListener('click', async () => {
        await session.logout();
        show('sign-in-form');
      });
      return;
    } catch {
      /* the stored session is no longer valid: continue signed out */
    }
  }
  show('create-form');
}

$('show-sign-in').addEventListener('click', () => show('sign-in-form'));
$('show-create').addEventListener('click', () => show('create-form'));

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError('create-error', '');
  const name = $('display-name').value.trim();
  const password = $('new-password').value;
  if (!name) return showError('create-error', 'Enter your name.');
  if (password.length < 12) return showError('create-error', 'Choose a password of at least 12 characters.');
  try {
    accepted(await postAnonymous('/api/v1/invites/accept', { token, display_name: name, password }));
  } catch (e) {
    const message = handle(e);
    if (message) showError('create-error', message);
  }
});

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError('sign-in-error', '');
  const code = $('code-field').hidden ? undefined : $('code').value;
  let session;
  try {
    session = await login($('email').value.trim(), $('password').value, code);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'mfa_required') {
      $('code-field').hidden = false;
      $('code').focus();
      return showError('sign-in-error', 'This account uses two-step sign-in. Enter your one-time code.');
    }
    return showError('sign-in-error', explain(e));
  }
  await acceptSignedIn(session, 'sign-in-error');
});

start();
