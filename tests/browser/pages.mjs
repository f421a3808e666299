#!/usr/bin/env node
// Every page of the app shell, for every role, in a real browser (Debian's
// Chromium driven by playwright-core):
// - each person signs in through the form and lands in their own area
//   (patient → portal, clinician → console, organization admin → admin
//   console, platform admin → platform console);
// - every page listed in shell.js AREAS opens for the people whose roles it
//   belongs to and has no axe-core violation; everyone else gets the refusal
//   ("This page is not available to your account", or straight to their own
//   home page), also axe-clean, and the refused page makes no API call beyond
//   `/me` and `/auth/*`;
// - the patient's pages and the public pages pass axe-core at 375 px wide and
//   do not scroll sideways;
// - a guest (signed out) opening any of these pages is sent to sign-in;
// - every API call a staff page made is refused to the patient (401/403/404)
//   and to a caller without a token (401), except the caller's own lists
//   (`/me…`, the rooms, appointments, visits and organizations of the caller).
// Any console error, failed request or CSP violation fails the run.
//
// Environment: HUB_URL; HB_PEOPLE = JSON {role: {email, password, home}} for
// the roles patient, clinician, admin, platform; CHROMIUM_PATH;
// HB_ARTIFACTS_DIR.

import { Run, check, env, expectAccessible, signIn } from './lib/harness.mjs';

const run = new Run('pages');
const PEOPLE = JSON.parse(env('HB_PEOPLE'));
const PUBLIC_PAGES = ['/', '/signup', '/forgot', '/invite'];
const REFUSAL = 'This page is not available to your account';
const PHONE = { width: 375, height: 740 };
/** API reads a patient may make for themselves (answers hold only their own data). */
const OWN_DATA = [
  /^\/api\/v1\/me(\/|$)/, /^\/api\/v1\/auth\//, /^\/api\/v1\/(rooms|appointments|visits|orgs)$/,
  // A provider's weekly hours are the clinic's opening hours: every member may read them (docs/api.md).
  /^\/api\/v1\/orgs\/[^/]+\/providers\/[^/]+\/availability$/];

/** The shell's areas and pages, read from the served shell.js itself. */
async function areasOf(page) {
  return page.evaluate(async () => {
    const shell = await import('/web/js/shell.js');
    return { areas: JSON.parse(JSON.stringify(shell.AREAS)) };
  });
}

/**
 * The API paths the document at `href` requests while `action` runs (requests
 * still made by the page we are leaving are not its).
 */
async function apiCallsDuring(page, href, action) {
  const calls = [];
  const listen = (r) => {
    const url = new URL(r.url());
    let from = '';
    try {
      from = new URL(r.frame().url()).pathname;
    } catch {
      return;
    }
    if (from !== href) return;
    if (url.pathname.startsWith('/api/')) calls.push({ method: r.method(), path: url.pathname, search: url.search });
  };
  page.on('request', listen);
  try {
    await action();
  } finally {
    page.off('request', listen);
  }
  return calls;
}

async function settle(page) {
  await page.waitForLoadState('networkidle', { timeout: run.stepMs }).catch(() => {});
}

async function refused(page) {
  return (await page.getByRole('heading', { name: REFUSAL }).count()) > 0;
}

async function noSidewaysScroll(page, what) {
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= PHONE.width, `${what}: the page is ${wide} px wide at ${PHONE.width} px (scrolls sideways)`);
}

/** The areas of a person: shell.js's own `areasFor` over their `GET /me`. */
async function areasOfPerson(page, person) {
  const token = await apiToken(person.email, person.password);
  const res = await fetch(`${run.base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  check(res.ok, `GET /me answered ${res.status}`);
  const me = await res.json();
  return page.evaluate(async (me) => {
    const shell = await import('/web/js/shell.js');
    return [...shell.areasFor(me).keys()];
  }, me);
}

async function apiToken(email, password) {
  const res = await fetch(`${run.base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  check(res.ok, `API sign-in of ${email} answered ${res.status}`);
  return (await res.json()).access_token;
}

await run.main(async () => {
  await run.launch();
  const staffReads = new Map(); // path+search → page that made the call

  for (const [role, person] of Object.entries(PEOPLE)) {
    run.begin(`${role}: sign in`);
    const context = await run.context();
    const page = run.watch(await context.newPage(), role);
    await signIn(page, run.base, person);
    await page.waitForURL((u) => u.pathname === person.home, { timeout: run.stepMs });
    run.ok(`${role} lands on ${person.home}`);

    const { areas } = await areasOf(page);
    const mine = new Set(await areasOfPerson(page, person));
    const pages = new Map(); // href → [area ids]
    for (const [id, area] of Object.entries(areas)) {
      for (const p of area.pages) pages.set(p.href, [...(pages.get(p.href) ?? []), id]);
    }
    for (const [href, owners] of pages) {
      run.begin(`${role}: ${href}`);
      const allowed = owners.some((a) => mine.has(a));
      await settle(page);
      const calls = await apiCallsDuring(page, href, async () => {
        await page.goto(`${run.base}${href}`);
        await settle(page);
        await page.locator('#shell-bar').waitFor({ timeout: run.stepMs });
      });
      // Refused: the page says so, or sends the person to their own home.
      const sentHome = new URL(page.url()).pathname === person.home && href !== person.home;
      const isRefused = sentHome || (await refused(page));
      if (allowed) {
        check(!isRefused, `${role} was refused ${href}, which belongs to ${owners.join('/')}`);
        check((await page.locator('h1').count()) > 0, `${href} has no h1`);
        if (role !== 'patient') {
          for (const c of calls) {
            if (c.method === 'GET') staffReads.set(`${c.path}${c.search}`, href);
          }
        }
      } else {
        check(isRefused, `${role} was not refused ${href} (${owners.join('/')})`);
        // (A page that sends the person home loads the home page's own data.)
        const beyond = sentHome ? [] : calls.filter((c) => !/^\/api\/v1\/(me|auth\/)/.test(c.path));
        check(beyond.length === 0, `refused ${href} still called ${beyond.map((c) => c.path).join(', ')}`);
      }
      await expectAccessible(page, `${href} for ${role}`);
      run.noProblems();
      run.ok(`${role}: ${href} ${allowed ? 'opens' : 'is refused'} and passes axe-core`);

      if (role === 'patient' && allowed) {
        await page.setViewportSize(PHONE);
        await settle(page);
        await expectAccessible(page, `${href} at 375 px`);
        await noSidewaysScroll(page, href);
        await page.setViewportSize({ width: 1280, height: 800 });
        run.ok(`patient: ${href} works at 375 px`);
      }
    }
    await context.close();
  }

  run.begin('guest');
  const guestContext = await run.context();
  const guest = run.watch(await guestContext.newPage(), 'guest');
  await guest.goto(`${run.base}/`);
  const { areas } = await areasOf(guest);
  const hrefs = new Set(Object.values(areas).flatMap((a) => a.pages.map((p) => p.href)));
  for (const href of hrefs) {
    await guest.goto(`${run.base}${href}`);
    await guest.waitForURL((u) => u.pathname === '/', { timeout: run.stepMs });
    run.ok(`guest: ${href} sends to sign-in`);
  }
  for (const path of PUBLIC_PAGES) {
    run.begin(`public page ${path}`);
    for (const viewport of [{ width: 1280, height: 800 }, PHONE]) {
      await guest.setViewportSize(viewport);
      await guest.goto(`${run.base}${path}`);
      await settle(guest);
      check((await guest.locator('h1').count()) > 0, `${path} has no h1`);
      await expectAccessible(guest, `${path} at ${viewport.width} px`);
      if (viewport === PHONE) await noSidewaysScroll(guest, path);
    }
    run.noProblems();
    run.ok(`public: ${path} passes axe-core at desktop and 375 px`);
  }
  await guestContext.close();

  run.begin('the APIs behind staff pages');
  check(staffReads.size > 0, 'the staff pages made no API call to check');
  const patient = await apiToken(PEOPLE.patient.email, PEOPLE.patient.password);
  for (const [target, href] of staffReads) {
    const path = target.split('?')[0];
    const asGuest = await fetch(`${run.base}${target}`);
    check(asGuest.status === 401, `GET ${target} (behind ${href}) answered ${asGuest.status} without a token`);
    if (OWN_DATA.some((re) => re.test(path))) continue;
    const asPatient = await fetch(`${run.base}${target}`, { headers: { authorization: `Bearer ${patient}` } });
    check(
      [401, 403, 404].includes(asPatient.status),
      `GET ${target} (behind ${href}) answered ${asPatient.status} to a patient`,
    );
  }
  run.ok(`${staffReads.size} API reads behind staff pages are refused to a patient and a guest`);
});
