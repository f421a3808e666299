// Sign up (patients) and the landing page of the verification link
// (`/signup#verify=<token>`). The token travels in the URL fragment, which the
// browser never sends to a server; it leaves the address bar before anything
// else happens, so it is not kept in history or shown over a shoulder.

import { explain } from './messages.js';

const $ = (id) => document.getElementById(id);
const fragment = new URLSearchParams(location.hash.slice(1));
const verifyToken = fragment.get('verify');
if (location.hash) history.replaceState(null, '', location.pathname);

/** POST without a session; returns null on success or the API's error. */
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
    return { status: response.status, code: error?.error?.code, field: error?.error?.field };
  } catch {
    return { code: 'network_error' };
  }
}

function show(id) {
  for (const section of ['signup-form', 'check-email', 'verify']) $(section).hidden = section !== id;
  $(id).focus();
}

async function verify(token) {
  show('verify');
  const error = await post('/api/v1/auth/verify-email', { token });
  $('verify-title').textContent = error ? 'This link did not work' : 'Your email address is confirmed';
  $('verify-status').textContent = error
    ? explain(error)
    : 'Thank you. You can sign in now.';
}

const FIELDS = { display_name: 'name', email: 'email', password: 'password' };

function signUp() {
  const form = $('signup-form');
  const errorBox = $('signup-error');
  const inputs = ['name', 'email', 'password'].map($);
  const fail = (message, input) => {
    errorBox.textContent = message;
    errorBox.hidden = false;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    for (const input of inputs) input.removeAttribute('aria-invalid');
    const [name, email, password] = inputs;
    if (!name.value.trim()) return fail('Enter your name.', name);
    if (!email.value.trim()) return fail('Enter your email address.', email);
    if (password.value.length < 12) return fail(explain({ code: 'password_too_short' }), password);
    $('signup-submit').disabled = true;
    $('signup-status').textContent = 'Creating your account…';
    const error = await post('/api/v1/auth/register', {
      display_name: name.value.trim(),
      email: email.value.trim(),
      password: password.value,
    });
    $('signup-submit').disabled = false;
    $('signup-status').textContent = '';
    if (error) return fail(explain(error), $(FIELDS[error.field]) ?? null);
    $('sent-to').textContent = email.value.trim();
    password.value = '';
    show('check-email');
  });
}

if (verifyToken) verify(verifyToken);
else signUp();
