// The app shell every signed-in page shares: who may open the page, the top
// bar (brand, the areas this person has, the page links of the area, account
// and sign-out), and where each person lands after signing in.
//
// Areas follow the roles of `GET /api/v1/me`, per organization:
// - `portal`   — a patient (a membership with role `patient`, or an account
//                with no organization at all: self-registered patients);
// - `console`  — a clinician in some organization;
// - `admin`    — an organization admin;
// - `platform` — a platform admin;
// - `account`  — everyone signed in (settings, security, notifications).
// The server refuses every API call a role may not make; the shell only keeps
// people out of pages that are not theirs, so nobody sees controls that would
// fail (a patient is never shown host controls).

import { Session } from './api.js';
import { el, setFlash } from './dom.js';

/** Where each area lives and what its pages are, in navigation order. */
export const AREAS = {
  portal: {
    label: 'Patient portal',
    pages: [
      { id: 'portal', href: '/web/portal.html', label: 'My care' },
    ],
  },
  console: {
    label: 'Clinician console',
    pages: [
      { id: 'rooms', href: '/web/app.html', label: 'Rooms' },
      { id: 'visits', href: '/web/visits.html', label: 'Video visits' },
      { id: 'schedule', href: '/web/schedule.html', label: 'Schedule' },
    ],
  },
  admin: {
    label: 'Organization admin',
    pages: [
      { id: 'admin', href: '/web/admin.html', label: 'Organization' },
      { id: 'audit', href: '/web/audit.html', label: 'Audit log' },
      { id: 'monitor', href: '/web/monitor.html', label: 'Live monitor' },
    ],
  },
  platform: {
    label: 'Platform admin',
    pages: [
      { id: 'platform', href: '/web/platform.html', label: 'Organizations' },
      { id: 'monitor', href: '/web/monitor.html', label: 'Live monitor' },
    ],
  },
  account: {
    label: 'My account',
    pages: [{ id: 'settings', href: '/web/settings.html', label: 'Account' }],
  },
};

/** The order in which a person with several areas lands: work first. */
const HOME_ORDER = ['console', 'admin', 'platform', 'portal'];

/**
 * The areas a `/me` answer opens, and for each the memberships it covers.
 * Returns a Map from area to `[{org_id, org_name, role}]` (empty for
 * `platform` and `account`, and for a patient with no organization).
 */
export function areasFor(me) {
  const memberships = Array.isArray(me?.memberships) ? me.memberships : [];
  const byRole = (role) => memberships.filter((m) => m.role === role);
  const areas = new Map();
  const clinician = byRole('clinician');
  const admin = byRole('admin');
  const patient = byRole('patient');
  if (clinician.length) areas.set('console', clinician);
  if (admin.length) areas.set('admin', admin);
  if (me?.platform_admin) areas.set('platform', []);
  // A self-registered patient has no organization yet and still has a portal.
  if (patient.length || memberships.length === 0 && !me?.platform_admin) areas.set('portal', patient);
  areas.set('account', []);
  return areas;
}

/** The first page a person sees after signing in. */
export function homeFor(me) {
  const areas = areasFor(me);
  for (const area of HOME_ORDER) {
    if (areas.has(area)) return AREAS[area].pages[0].href;
  }
  return AREAS.account.pages[0].href;
}

function renderBar(bar, { area, page, me, areas, session }) {
  const def = AREAS[area];
  bar.classList.add('topbar');
  bar.replaceChildren();
  bar.append(
    el('p', { class: 'brand' }, ['HealthBridge ', el('span', { class: 'brand-sub' }, def.label)]),
  );
  const links = def.pages.map((p) =>
    el('li', {}, el('a', { href: p.href, 'aria-current': p.id === page ? 'page' : null }, p.label)),
  );
  bar.append(el('nav', { class: 'topnav', 'aria-label': def.label }, el('ul', {}, links)));

  // The other areas this person has: one link each (the area switcher).
  const others = [...areas.keys()].filter((a) => a !== area && a !== 'account');
  if (others.length) {
    bar.append(
      el(
        'nav',
        { class: 'topnav areas', 'aria-label': 'Switch to' },
        el(
          'ul',
          {},
          others.map((a) => el('li', {}, el('a', { href: AREAS[a].pages[0].href }, AREAS[a].label))),
        ),
      ),
    );
  }
  bar.append(
    el('p', { id: 'whoami', class: 'whoami' }, ['Signed in as ', el('strong', { id: 'whoami-name' }, me.display_name)]),
  );
  const status = el('p', { id: 'conn-status', class: 'conn', role: 'status', 'data-state': 'idle', hidden: true });
  bar.append(status);
  if (area !== 'account') {
    bar.append(el('a', { class: 'button', href: AREAS.account.pages[0].href }, 'Account'));
  }
  const logout = el('button', { id: 'logout', type: 'button', class: 'button' }, 'Sign out');
  logout.addEventListener('click', () => session.logout());
  bar.append(logout);
}

/** Replaces the page's content with a refusal that links to the person's home. */
function refuse(me) {
  document.title = 'Not available · HealthBridge';
  // Everything but the top bar goes: the page's own layout (a room list, a
  // form) may wrap its <main>, and none of it belongs to this person.
  for (const node of [...document.body.children]) {
    if (node.id !== 'shell-bar' && node.tagName !== 'SCRIPT') node.remove();
  }
  document.body.className = 'refused-page';
  document.body.append(
    el('main', { id: 'main', class: 'refused-main', tabindex: '-1' }, [
      el('div', { class: 'card refused' }, [
        el('h1', {}, 'This page is not available to your account'),
        el('p', {}, 'It belongs to a role your account does not have.'),
        el('p', {}, el('a', { href: homeFor(me) }, 'Go to your home page')),
      ]),
    ]),
  );
}

/**
 * Starts a signed-in page of `area`. Sends a signed-out visitor to the
 * sign-in page, renders the top bar into `#shell-bar`, and refuses the page
 * (returns null) to a person without the area (or without any of them when
 * `area` is a list). Otherwise returns
 * `{session, me, areas, orgs}` where `orgs` are the memberships of the area.
 */
export async function startShell({ area, page }) {
  // A page shared by several areas (the live monitor: admin and platform)
  // names them all; the person's first matching area is the one shown.
  const wanted = Array.isArray(area) ? area : [area];
  for (const a of wanted) if (!AREAS[a]) throw new Error(`unknown area ${a}`);
  // `resume` may become asynchronous (a refresh through an HttpOnly cookie).
  const session = await Session.resume();
  if (!session) {
    location.replace('/');
    await new Promise(() => {}); // stop here while the browser navigates
  }
  session.addEventListener('ended', (e) => {
    if (e.detail?.reason !== 'logout') setFlash('Your session has ended. Please sign in again.');
    location.replace('/');
  });
  let me;
  try {
    me = await session.me();
  } catch {
    setFlash('We could not load your account. Please sign in again.');
    session.end('unauthenticated');
    await new Promise(() => {});
  }
  const areas = areasFor(me);
  const bar = document.getElementById('shell-bar');
  area = wanted.find((a) => areas.has(a));
  if (!area) {
    // Render the bar of the person's own home area, then the refusal.
    const home = HOME_ORDER.find((a) => areas.has(a)) ?? 'account';
    if (bar) renderBar(bar, { area: home, page: null, me, areas, session });
    refuse(me);
    return null;
  }
  if (bar) renderBar(bar, { area, page, me, areas, session });
  return { session, me, areas, orgs: areas.get(area) };
}
