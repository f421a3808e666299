#!/usr/bin/env node
// The live monitor in a real browser (Debian's Chromium driven by playwright-core):
// an organization admin signs in and opens /web/monitor.html; a clinician of the
// organization signs in in another browser context, and the admin's figure for
// clinicians on this node rises from 0 to 1 without a reload (pushed over /ws), then
// falls back when the clinician's context closes. A platform admin's monitor offers
// every organization. axe-core finds no violation on the page; any console error,
// failed request or Content-Security-Policy violation fails the run.
//
// Environment:
//   HUB_URL                         base URL of a running hub
//   HB_ADMIN_EMAIL                  an organization admin of HB_ORG_NAME
//   HB_CLINICIAN_EMAIL              a clinician of HB_ORG_NAME
//   HB_PASSWORD                     both people's password
//   HB_ORG_NAME                     the organization's name
//   HB_PLATFORM_EMAIL, HB_PLATFORM_PASSWORD   a platform admin
//   HB_SCREENSHOTS_DIR              optional: saves the admin's monitor as monitor.png
//   CHROMIUM_PATH, HB_ARTIFACTS_DIR, HB_STEP_TIMEOUT_MS   as every script (lib/harness.mjs)
//
// Exits 0 when every check passed, 1 with "FAIL: <step>: <why>" otherwise.

import { Failure, Run, check, env, expectAccessible, signIn } from './lib/harness.mjs';

const ADMIN = env('HB_ADMIN_EMAIL');
const CLINICIAN = env('HB_CLINICIAN_EMAIL');
const PASSWORD = env('HB_PASSWORD');
const ORG = env('HB_ORG_NAME');
const PLATFORM = env('HB_PLATFORM_EMAIL');
const PLATFORM_PASSWORD = env('HB_PLATFORM_PASSWORD');

/** The figure other tests read too (keep in step with web/js/monitor/render.js). */
const CLINICIANS_HERE = '#nodes tr[data-this-node] td[data-figure="clinician"]';
const ADMINS_HERE = '#nodes tr[data-this-node] td[data-figure="admin"]';

const run = new Run('monitor');

/** A person in a browser context of their own, signed in through the form. */
async function person(email, password) {
  const context = await run.context();
  const page = await context.newPage();
  await signIn(page, run.base, { email, password });
  // Sign-in lands an admin on the admin or platform console, which this build may
  // not serve yet: the 404 of that landing page is not the monitor's problem.
  run.problems = run.problems.filter((p) => !/\/web\/(admin|platform)\.html: console: .*404/.test(p));
  return { context, page };
}

async function openMonitor(page) {
  const resp = await page.goto(`${run.base}/web/monitor.html`, { waitUntil: 'load' });
  check(resp?.status() === 200, `/web/monitor.html answered ${resp?.status()}`);
  await page.waitForSelector(CLINICIANS_HERE, { timeout: run.stepMs });
}

/** Waits until the cell `selector` reads `want`; fails with what it reads. */
async function reads(page, selector, want, why) {
  try {
    await page.waitForFunction(
      ([sel, n]) => document.querySelector(sel)?.textContent.trim() === n,
      [selector, want],
      { timeout: run.stepMs },
    );
  } catch {
    const now = await page.locator(selector).textContent().catch(() => '(no such cell)');
    throw new Failure(`${why}: ${selector} reads ${now}, not ${want}`);
  }
}

await run.main(async () => {
  await run.launch();

  run.begin('the organization admin opens the live monitor');
  const admin = await person(ADMIN, PASSWORD);
  await openMonitor(admin.page);
  await reads(admin.page, CLINICIANS_HERE, '0', 'before anyone else signs in');
  await reads(admin.page, ADMINS_HERE, '1', "the admin's own socket");
  const options = await admin.page.locator('#scope-select option').allTextContents();
  check(options.length === 1 && options[0] === ORG, `the organization choice offers ${JSON.stringify(options)}`);
  const status = await admin.page.locator('#monitor-status').textContent();
  check(/updates every 2 seconds/.test(status), `the status reads "${status}"`);
  run.ok('the monitor shows this node with no clinician and the admin');

  run.begin('the page passes axe-core');
  await expectAccessible(admin.page, 'the live monitor');
  run.ok('axe-core finds no violation on the live monitor');

  run.begin('a clinician signs in in another browser');
  const clinician = await person(CLINICIAN, PASSWORD);
  await reads(admin.page, CLINICIANS_HERE, '1', 'after the clinician signed in');
  const text = await admin.page.locator('main').innerText();
  check(!/\b1[6-9]\d{11}\b/.test(text), 'an epoch number is on the page');
  run.ok('the clinician figure rises to 1 without a reload');
  if (process.env.HB_SCREENSHOTS_DIR) {
    await admin.page.screenshot({ path: `${process.env.HB_SCREENSHOTS_DIR}/monitor.png`, fullPage: true });
  }

  run.begin('the clinician leaves');
  await clinician.context.close();
  await reads(admin.page, CLINICIANS_HERE, '0', 'after the clinician closed the browser');
  run.ok('the clinician figure falls back to 0');

  run.begin('a platform admin watches every organization');
  const platform = await person(PLATFORM, PLATFORM_PASSWORD);
  await openMonitor(platform.page);
  const all = await platform.page.locator('#scope-select option').allTextContents();
  check(all[0] === 'All organizations' && all.includes(ORG), `the platform choice offers ${JSON.stringify(all)}`);
  await platform.page.selectOption('#scope-select', { label: ORG });
  // The organization's admins only: Ada, and the platform admin if a member there.
  await platform.page.waitForFunction(
    (sel) => [1, 2].includes(Number(document.querySelector(sel)?.textContent)),
    ADMINS_HERE,
    { timeout: run.stepMs },
  );
  run.ok('a platform admin chooses between everything and one organization');

  run.noProblems();
});
