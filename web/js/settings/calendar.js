// The private calendar link (`POST`/`DELETE /api/v1/me/calendar-feed`). The
// hub keeps only a hash of it, so it can be shown when created and not later:
// creating a new one turns the old one off.

import { feedback, busy } from './form.js';

const $ = (id) => document.getElementById(id);

export async function mountCalendar({ session }) {
  const ui = feedback('calendar');
  $('calendar-create').addEventListener('click', async (event) => {
    ui.reset();
    try {
      const { url } = await busy(event.currentTarget, () => session.post('/api/v1/me/calendar-feed'));
      $('calendar-url').value = url;
      $('calendar-link').hidden = false;
      $('calendar-create').textContent = 'Create a new calendar link';
      ui.say('Your calendar link is ready. Add it to your calendar app as a subscription. Any earlier link no longer works.');
      $('calendar-url').focus();
      $('calendar-url').select();
    } catch (e) {
      ui.fail(e);
    }
  });
  $('calendar-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('calendar-url').value);
      ui.say('The link is copied.');
    } catch {
      $('calendar-url').select();
      ui.say('Copying is not allowed here: the link is selected, copy it with your keyboard.');
    }
  });
  $('calendar-revoke').addEventListener('click', async (event) => {
    ui.reset();
    try {
      await busy(event.currentTarget, () => session.del('/api/v1/me/calendar-feed'));
      ui.say('Your calendar link is turned off.');
    } catch (e) {
      if (e.status === 404) ui.say('You have no calendar link.');
      else ui.fail(e);
    }
    $('calendar-link').hidden = true;
    $('calendar-url').value = '';
  });
}
