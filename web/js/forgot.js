// Forgot password: ask for a reset link, and the page the link opens
// (`/forgot#reset=<token>`) to choose a new password. The token is read from
// the URL fragment (never sent to a server by the browser) and removed from
// the address bar at once; it then lives in this page's memory only.

import { explain } from './messages.js';

const $ = (id) => document.getElementById(id);
const resetToken = new URLSearchParams(location.hash.slice(1)).get('reset');
if (location.hash) history.replaceState(null, '', location.pathname);

async function post(path, body) {
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    if (response.ok) return null;
    const error = await response.json().catch(() => ({}));
    return { status: response.status, code: error?.error?.code };
  } catch {
    return { code: 'network_error' };
  }
}

function show(id) {
  for (const section of ['request-form', 'request-sent', 'reset-form', 'reset-done']) {
    $(section).hidden = section !== id;
  }
  $(id).focus();
}

function fail(box, message, input) {
  $(box).textContent = message;
  $(box).hidden = false;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

function requestLink() {
  $('request-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const email = $('email');
    $('request-error').hidden = true;
    email.removeAttribute('aria-invalid');
    if (!email.value.trim()) return fail('request-error', 'Enter your email address.', email);
    $('request-submit').disabled = true;
    const error = await post('/api/v1/auth/password-reset', { email: email.value.trim() });
    $('request-submit').disabled = false;
    if (error) return fail('request-error', explain(error), email);
    $('sent-to').textContent = email.value.trim();
    show('request-sent');
  });
}

function chooseNew(token) {
  show('reset-form');
  $('reset-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const [password, repeat] = [$('new-password'), $('repeat-password')];
    $('reset-error').hidden = true;
    password.removeAttribute('aria-invalid');
    repeat.removeAttribute('aria-invalid');
    if (password.value.length < 12) return fail('reset-error', explain({ code: 'password_too_short' }), password);
    if (password.value !== repeat.value) return fail('reset-error', 'The two passwords are not the same.', repeat);
    $('reset-submit').disabled = true;
    $('reset-status').textContent = 'Saving…';
    const error = await post('/api/v1/auth/password-reset/confirm', { token, password: password.value });
    $('reset-submit').disabled = false;
    $('reset-status').textContent = '';
    if (error) return fail('reset-error', explain(error), error.code === 'invalid_token' ? null : password);
    show('reset-done');
  });
}

if (resetToken) chooseNew(resetToken);
else requestLink();
