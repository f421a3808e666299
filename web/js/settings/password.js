// Change password (`POST /api/v1/auth/password`): the hub signs out every
// other session of the account; this one stays.

import { feedback, busy } from './form.js';

const $ = (id) => document.getElementById(id);

export async function mountPassword({ session }) {
  const ui = feedback('password');
  const form = $('password-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    const current = $('current-password');
    const next = $('new-password');
    if (!current.value) return ui.fail('Enter your current password.', current);
    if (next.value.length < 12) return ui.fail({ code: 'password_too_short' }, next);
    try {
      const { sessions_revoked: others } = await busy(form.querySelector('[type=submit]'), () =>
        session.post('/api/v1/auth/password', { current_password: current.value, new_password: next.value }),
      );
      current.value = '';
      next.value = '';
      ui.say(
        others > 0
          ? `Your password is changed. ${others === 1 ? 'One other device was' : `${others} other devices were`} signed out.`
          : 'Your password is changed.',
      );
    } catch (e) {
      const wrongCurrent = e.code === 'invalid_credentials';
      ui.fail(e, wrongCurrent ? current : next, { invalid_credentials: 'Your current password is not right.' });
    }
  });
}
