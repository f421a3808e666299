// Account links from email: `/account#verify=<token>` and `/account#reset=<token>`.
// The token travels in the URL fragment, which the browser never sends to a
// server; this page posts it to the API and then removes it from the address bar.

const fragment = new URLSearchParams(location.hash.slice(1));
history.replaceState(null, '', location.pathname);

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.ok) return null;
  const error = await response.json().catch(() => ({}));
  return error.error ?? { code: 'unknown', message: 'Something went wrong. Try again.' };
}

function messageFor(error) {
  if (error.code === 'invalid_token') return 'This link is invalid, already used or expired. Ask for a new one.';
  return error.message || 'Something went wrong. Try again.';
}

async function verify(token) {
  const section = document.getElementById('verify');
  const status = document.getElementById('verify-status');
  section.hidden = false;
  const error = await post('/api/v1/auth/verify-email', { token });
  status.textContent = error ? messageFor(error) : 'Your email address is confirmed. Thank you.';
}

function reset(token) {
  const form = document.getElementById('reset-form');
  const input = document.getElementById('new-password');
  const errorBox = document.getElementById('reset-error');
  const status = document.getElementById('reset-status');
  form.hidden = false;
  input.focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    input.removeAttribute('aria-invalid');
    status.textContent = 'Saving…';
    const error = await post('/api/v1/auth/password-reset/confirm', { token, password: input.value });
    if (error) {
      status.textContent = '';
      errorBox.textContent = messageFor(error);
      errorBox.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    form.querySelector('button').disabled = true;
    status.textContent = 'Your password is changed. You can sign in now.';
    setTimeout(() => location.replace('/'), 2000);
  });
}

if (fragment.get('verify')) {
  verify(fragment.get('verify'));
} else if (fragment.get('reset')) {
  reset(fragment.get('reset'));
} else {
  document.getElementById('invalid').hidden = false;
}
