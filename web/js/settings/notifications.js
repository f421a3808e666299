// Notification preferences and quiet hours (`/api/v1/me/notification-settings`):
// per category, whether open pages show the notice and which channels (text
// message, email, in the order tried) carry it when the person is away.

import { el } from '../dom.js';
import { feedback, busy } from './form.js';

const $ = (id) => document.getElementById(id);

const CATEGORIES = {
  appointments: 'Appointments (bookings, changes, cancellations)',
  reminders: 'Appointment reminders',
  messages: 'New messages from your care team',
};

/** The channel choices, as the ordered lists the API takes. */
const CHANNELS = [
  { value: 'email', label: 'Email', channels: ['email'] },
  { value: 'sms', label: 'Text message', channels: ['sms'] },
  { value: 'sms,email', label: 'Text message, or email if that fails', channels: ['sms', 'email'] },
  { value: 'email,sms', label: 'Email, or text message if that fails', channels: ['email', 'sms'] },
  { value: '', label: 'Neither', channels: [] },
];

function category(name, pref) {
  const select = el(
    'select',
    { id: `pref-${name}`, 'data-category': name },
    CHANNELS.map((c) => el('option', { value: c.value }, c.label)),
  );
  select.value = pref.channels.join(',');
  if (select.value !== pref.channels.join(',')) select.value = 'email';
  const inApp = el('input', { id: `pref-${name}-app`, type: 'checkbox', 'data-category': name });
  inApp.checked = pref.in_app;
  return el('div', { class: 'preference' }, [
    el('p', { class: 'label', id: `pref-${name}-title` }, CATEGORIES[name]),
    el('div', { class: 'field' }, [el('label', { for: `pref-${name}` }, 'When you are away'), select]),
    el('div', { class: 'check' }, [inApp, el('label', { for: `pref-${name}-app` }, 'Show it on open HealthBridge pages')]),
  ]);
}

function fill(settings) {
  $('preferences').replaceChildren(
    ...Object.keys(CATEGORIES)
      .filter((name) => settings.preferences[name])
      .map((name) => category(name, settings.preferences[name])),
  );
  const quiet = settings.quiet_hours;
  $('quiet-on').checked = Boolean(quiet);
  if (quiet) {
    $('quiet-start').value = quiet.start;
    $('quiet-end').value = quiet.end;
  }
  syncQuiet();
}

function syncQuiet() {
  const on = $('quiet-on').checked;
  $('quiet-start').disabled = !on;
  $('quiet-end').disabled = !on;
}

export async function mountNotifications({ session }) {
  const ui = feedback('notifications');
  const form = $('notifications-form');
  $('quiet-on').addEventListener('change', syncQuiet);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    const preferences = {};
    for (const select of form.querySelectorAll('select[data-category]')) {
      const name = select.dataset.category;
      preferences[name] = {
        channels: CHANNELS.find((c) => c.value === select.value)?.channels ?? [],
        in_app: $(`pref-${name}-app`).checked,
      };
    }
    const quietOn = $('quiet-on').checked;
    const start = $('quiet-start').value;
    const end = $('quiet-end').value;
    if (quietOn && (!start || !end)) return ui.fail({ code: 'invalid_quiet_hours' }, start ? $('quiet-end') : $('quiet-start'));
    if (quietOn && start === end) return ui.fail('Quiet hours must start and end at different times.', $('quiet-end'));
    try {
      const saved = await busy(form.querySelector('[type=submit]'), () =>
        session.put('/api/v1/me/notification-settings', {
          preferences,
          quiet_hours: quietOn ? { start, end } : null,
        }),
      );
      fill(saved);
      ui.say('Your notification settings are saved.');
    } catch (e) {
      ui.fail(e);
    }
  });
  try {
    fill(await session.get('/api/v1/me/notification-settings'));
  } catch (e) {
    ui.fail(e);
  }
}
