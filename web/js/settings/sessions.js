// Where the account is signed in (`GET /api/v1/me/sessions`): each device
// with when it signed in and was last used, "Sign out" for one of them, and
// "Sign out everywhere". Ending this browser's own session signs this page
// out (the shell then shows the sign-in page).

import { el } from '../dom.js';
import { feedback, busy, when } from './form.js';

const $ = (id) => document.getElementById(id);

function row(s, onSignOut) {
  const button = el(
    'button',
    { type: 'button', class: 'button small', 'aria-label': `Sign out ${s.device}${s.current ? ' (this browser)' : ''}, signed in ${when(s.created_at)}` },
    'Sign out',
  );
  button.addEventListener('click', () => onSignOut(s, button));
  return el('li', { class: 'session', 'data-session-id': s.id, 'data-current': s.current ? 'true' : null }, [
    el('p', { class: 'session-device' }, [s.device, s.current ? el('span', { class: 'tag' }, 'This browser') : null]),
    el('p', { class: 'hint' }, `Signed in ${when(s.created_at)} · last used ${when(s.last_used_at)}`),
    button,
  ]);
}

export async function mountSessions({ session }) {
  const ui = feedback('sessions');
  const list = $('sessions-list');

  async function load() {
    const sessions = await session.get('/api/v1/me/sessions');
    list.replaceChildren(...sessions.map((s) => row(s, signOut)));
    list.dataset.count = String(sessions.length);
  }

  async function signOut(s, button) {
    ui.reset();
    if (s.current) return session.logout();
    try {
      await busy(button, () => session.del(`/api/v1/me/sessions/${encodeURIComponent(s.id)}`));
      ui.say(`${s.device} is signed out.`);
      await load();
      list.querySelector('button')?.focus();
    } catch (e) {
      ui.fail(e);
      await load().catch(() => {});
    }
  }

  $('logout-everywhere').addEventListener('click', async (event) => {
    ui.reset();
    try {
      await busy(event.currentTarget, () => session.logoutEverywhere());
    } catch (e) {
      ui.fail(e);
    }
  });

  try {
    await load();
  } catch (e) {
    ui.fail(e);
  }
}
