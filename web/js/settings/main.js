// The account page (`/web/settings.html`, area `account` of the shell): every
// signed-in person's profile, password, two-step sign-in, signed-in sessions,
// notification preferences and calendar link. Each section is its own module
// with a `mount({session, me})`; one failing section does not stop the others.

import { startShell } from '../shell.js';
import { mountProfile } from './profile.js';
import { mountPassword } from './password.js';
import { mountMfa } from './mfa.js';
import { mountSessions } from './sessions.js';
import { mountNotifications } from './notifications.js';
import { mountCalendar } from './calendar.js';

const shell = await startShell({ area: 'account', page: 'settings' });
if (shell) {
  const context = { session: shell.session, me: shell.me };
  const sections = [mountProfile, mountPassword, mountMfa, mountSessions, mountNotifications, mountCalendar];
  await Promise.allSettled(sections.map((mount) => mount(context)));
  const main = document.getElementById('main');
  main.setAttribute('aria-busy', 'false');
  main.dataset.ready = 'true';
  // A link to a section (`#mfa`) lands on it once the page is filled in.
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}
