// Profile: name, phone, time zone and language (`PATCH /api/v1/me`), and
// whether the email address is confirmed (with a new confirmation link).

import { feedback, busy } from './form.js';

const $ = (id) => document.getElementById(id);
const FIELDS = { display_name: 'profile-name', phone: 'profile-phone', time_zone: 'profile-zone', locale: 'profile-locale' };

/** Every IANA zone this browser knows, with the person's own first if it is missing. */
function zones(current) {
  let all = [];
  try {
    all = Intl.supportedValuesOf('timeZone');
  } catch {
    all = ['UTC'];
  }
  if (!all.includes('UTC')) all = ['UTC', ...all];
  if (current && !all.includes(current)) all = [current, ...all];
  return all;
}

function fill(me) {
  $('profile-name').value = me.display_name;
  $('profile-email').textContent = me.email;
  $('profile-phone').value = me.phone ?? '';
  const zone = $('profile-zone');
  zone.replaceChildren(
    ...zones(me.time_zone).map((z) => {
      const option = document.createElement('option');
      option.value = z;
      option.textContent = z.replaceAll('_', ' ');
      return option;
    }),
  );
  zone.value = me.time_zone;
  $('profile-locale').value = me.locale;
}

async function emailState(session) {
  const settings = await session.get('/api/v1/me/notification-settings');
  $('email-state').textContent = settings.email_verified ? 'Confirmed' : 'Not confirmed yet';
  $('resend-verification').hidden = settings.email_verified;
}

export async function mountProfile({ session, me }) {
  const ui = feedback('profile');
  fill(me);
  const form = $('profile-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    const name = $('profile-name').value.trim();
    if (!name) return ui.fail('Enter your name.', $('profile-name'));
    const phone = $('profile-phone').value.replace(/[\s().-]/g, '');
    const body = {
      display_name: name,
      phone: phone || null,
      time_zone: $('profile-zone').value,
      locale: $('profile-locale').value,
    };
    try {
      const updated = await busy(form.querySelector('[type=submit]'), () => session.patch('/api/v1/me', body));
      fill(updated);
      const whoami = document.getElementById('whoami-name');
      if (whoami) whoami.textContent = updated.display_name;
      ui.say('Your profile is saved.');
    } catch (e) {
      ui.fail(e, $(FIELDS[e.field]) ?? null);
    }
  });
  $('resend-verification').addEventListener('click', async (event) => {
    ui.reset();
    try {
      await busy(event.currentTarget, () => session.post('/api/v1/auth/verify-email/resend'));
      ui.say(`A new confirmation link is on its way to ${me.email}.`);
    } catch (e) {
      ui.fail(e);
    }
  });
  await emailState(session).catch(() => {
    $('email-state').textContent = '';
  });
}
