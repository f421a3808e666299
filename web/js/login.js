// The sign-in page: email + password, then a one-time code when the account
// has MFA on (the API answers `mfa_required`).

import { ApiError, Session, login, onOtherTabs } from './api.js';
import { takeFlash } from './dom.js';
import { explain } from './messages.js';
import { homeFor } from './shell.js';

/** Each person lands in their own area: portal, console, admin or platform. */
async function goHome(session) {
  let target = '/web/settings.html';
  try {
    target = homeFor(await session.me());
  } catch {
    // The account page still works; it will ask to sign in again if needed.
  }
  location.replace(target);
}

/** Already signed in in this browser (another tab, an earlier visit): go home. */
async function followSession() {
  try {
    const session = await Session.resume();
    if (session) await goHome(session);
  } catch {
    /* the hub is unreachable: the form stays */
  }
}

followSession();
// Signing in in another tab signs this one in too.
onOtherTabs((type) => {
  if (type === 'signed-in') followSession();
});

const form = document.getElementById('login-form');
const email = document.getElementById('email');
const password = document.getElementById('password');
const codeField = document.getElementById('code-field');
const code = document.getElementById('code');
const submit = document.getElementById('login-submit');
const errorBox = document.getElementById('login-error');
const status = document.getElementById('login-status');

function showError(message, field, { invalid = true } = {}) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  for (const input of [email, password, code]) input.removeAttribute('aria-invalid');
  if (field) {
    if (invalid) field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = '';
  for (const input of [email, password, code]) input.removeAttribute('aria-invalid');
}

function busy(on) {
  submit.disabled = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
  status.textContent = on ? 'Signing in…' : '';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  if (!email.value.trim()) return showError('Enter your email address.', email);
  if (!password.value) return showError('Enter your password.', password);
  const needCode = !codeField.hidden;
  if (needCode && !code.value.trim()) return showError('Enter your one-time code.', code);

  busy(true);
  try {
    const session = await login(email.value.trim(), password.value, needCode ? code.value : undefined);
    status.textContent = 'Signed in. Opening your home page…';
    await goHome(session);
    return;
  } catch (e) {
    busy(false);
    if (!(e instanceof ApiError)) {
      showError('Something went wrong. Please try again.');
      return;
    }
    switch (e.code) {
      case 'mfa_required':
        codeField.hidden = false;
        code.required = true;
        code.setAttribute('aria-required', 'true');
        showError('This account uses two-step sign-in. Enter your one-time code.', code, {
          invalid: false,
        });
        break;
      case 'invalid_mfa_code':
        code.value = '';
        showError(explain(e), code);
        break;
      case 'invalid_credentials':
        password.value = '';
        showError(explain(e), password);
        break;
      case 'too_many_attempts':
      case 'account_locked':
        showError(
          e.retryAfter
            ? `${e.code === 'account_locked' ? 'Too many failed attempts.' : 'Too many attempts.'} Try again in ${formatWait(e.retryAfter)}.`
            : explain(e),
        );
        break;
      default:
        showError(explain(e));
    }
  }
});

function formatWait(seconds) {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

const flash = takeFlash();
if (flash) {
  status.textContent = flash;
}
