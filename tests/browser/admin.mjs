#!/usr/bin/env node
// The admin console in a real browser (Debian's Chromium driven by
// playwright-core), the second required test: an organization admin
// invites a clinician; the invite email arrives (through a real SMTP server,
// whose captured link the Rust side writes to HB_LINK_FILE); the clinician
// accepts it in the browser, signs in and lands in the console; the admin sees
// the acceptance in the audit log viewer (with the chain verified) and the
// clinician's socket in the live monitor (/web/monitor.html). Then the platform admin's console, the
// refusals of these pages to a clinician, and axe-core on every admin and
// platform page. Any console error, failed request or CSP violation fails the run.
//
// Environment:
//   HUB_URL                       base URL of a running hub
//   HB_ORG_NAME                   the organization the admin runs
//   HB_SECOND_ORG_NAME            another one she runs, whose name sorts first
//   HB_ADMIN_EMAIL, HB_ADMIN_PASSWORD   its admin
//   HB_ROOT_EMAIL, HB_ROOT_PASSWORD     a platform admin
//   HB_CLINICIAN_EMAIL, HB_PASSWORD     whom the admin invites, and the password they choose
//   HB_PATIENT_EMAIL              a patient of the organization (password HB_PASSWORD)
//   HB_LINK_FILE                  where the invite link from the mail appears
//   CHROMIUM_PATH                 default /usr/bin/chromium
//   HB_ARTIFACTS_DIR              where screenshots go on failure
//   HB_STEP_TIMEOUT_MS            per wait, default 15000
//
// Exits 0 when every check passed, 1 with "FAIL: <step>: <why>" otherwise.

import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { axeViolations } from './lib/harness.mjs';

const env = (name, fallback) => {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback !== undefined) return fallback;
  console.error(`FAIL: setup: environment variable ${name} is required`);
  process.exit(2);
};

const BASE = env('HUB_URL').replace(/\/+$/, '');
const ORG = env('HB_ORG_NAME');
const SECOND_ORG = env('HB_SECOND_ORG_NAME');
const ADMIN_EMAIL = env('HB_ADMIN_EMAIL');
const ADMIN_PASSWORD = env('HB_ADMIN_PASSWORD');
const ROOT_EMAIL = env('HB_ROOT_EMAIL');
const ROOT_PASSWORD = env('HB_ROOT_PASSWORD');
const CLINICIAN_EMAIL = env('HB_CLINICIAN_EMAIL');
const PASSWORD = env('HB_PASSWORD');
const LINK_FILE = env('HB_LINK_FILE');
const CHROMIUM = env('CHROMIUM_PATH', '/usr/bin/chromium');
const STEP_MS = Number(env('HB_STEP_TIMEOUT_MS', '15000'));
const PATIENT_EMAIL = env('HB_PATIENT_EMAIL');
const CLINICIAN_NAME = 'Dr Nia Okafor';

let passed = 0;
let step = 'setup';
let browser = null;
const pages = {};
const problems = [];

function ok(what) {
  passed += 1;
  console.log(`ok ${passed} - ${what}`);
}

class Failure extends Error {}

function check(cond, message) {
  if (!cond) throw new Failure(message);
}

async function fail(err) {
  const why = err instanceof Failure ? err.message : err?.stack || String(err);
  console.error(`FAIL: ${step}: ${why}`);
  for (const p of problems) console.error(`  browser: ${p}`);
  try {
    const dir = process.env.HB_ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'hb-admin-'));
    mkdirSync(dir, { recursive: true });
    for (const [who, page] of Object.entries(pages)) {
      await page.screenshot({ path: join(dir, `failure-admin-${who}.png`), fullPage: true, timeout: 5000 });
    }
  } catch {
    /* screenshots are best effort */
  }
  console.error(`${passed} passed, 1 failed`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

/** Waits for `selector` on `page`; fails the step with `message` otherwise. */
async function waitFor(page, selector, message, opts = {}) {
  try {
    return await page.waitForSelector(selector, { timeout: STEP_MS, ...opts });
  } catch (e) {
    if (e?.name === 'TimeoutError') throw new Failure(`${message} (waited ${STEP_MS} ms)`);
    throw e;
  }
}

/** Waits until `fn()` (run in the page) is true. */
async function until(page, fn, arg, message) {
  try {
    await page.waitForFunction(fn, arg, { timeout: STEP_MS });
  } catch (e) {
    if (e?.name === 'TimeoutError') throw new Failure(`${message} (waited ${STEP_MS} ms)`);
    throw e;
  }
}

async function newPage(who) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${who}: console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${who}: uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? '';
    if (!failure.includes('ERR_ABORTED')) problems.push(`${who}: request failed: ${req.url()} ${failure}`);
  });
  pages[who] = page;
  return page;
}

/** Signs in on the sign-in page and waits to land on `home`. */
async function signIn(page, email, password, home) {
  await page.goto(`${BASE}/`, { waitUntil: 'load', timeout: STEP_MS });
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login-submit');
  try {
    await page.waitForURL((url) => url.pathname === home, { timeout: STEP_MS });
  } catch {
    throw new Failure(`signing in as ${email} landed on ${page.url()}, not ${home}`);
  }
}

async function noAxeViolations(page, what) {
  const found = await axeViolations(page);
  check(found.length === 0, `axe-core found violations on ${what}:\n  ${found.join('\n  ')}`);
  ok(`axe-core: no violations on ${what}`);
}

/** The mailed invite link, once the Rust side has read it from the SMTP server. */
async function mailedLink() {
  const deadline = Date.now() + STEP_MS;
  while (Date.now() < deadline) {
    if (existsSync(LINK_FILE)) {
      const link = readFileSync(LINK_FILE, 'utf8').trim();
      if (link) return link;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Failure(`no invite mail arrived within ${STEP_MS} ms`);
}

/**
 * The live monitor: the admin opens it, picks the organization when offered a
 * choice, and sees the signed-in clinician's socket on this node.
 */
async function clinicianSocketInMonitor(page) {
  await page.goto(`${BASE}/web/monitor.html`, { waitUntil: 'load', timeout: STEP_MS });
  const scope = await waitFor(page, '#scope-select option', 'the live monitor offered no organization', { state: 'attached' });
  const choice = await scope.evaluate((option, name) => {
    const select = option.closest('select');
    const wanted = [...select.options].find((o) => o.textContent.includes(name));
    return !select.disabled && wanted && wanted.value !== select.value ? wanted.value : null;
  }, ORG);
  if (choice) await page.selectOption('#scope-select', choice);
  await until(
    page,
    () => {
      const cell = document.querySelector('#nodes tr[data-this-node] td[data-figure="clinician"]');
      return cell && cell.textContent.trim() === '1';
    },
    null,
    "the live monitor did not show the clinician's socket",
  );
  ok("the admin sees the clinician's socket in the live monitor");
  await noAxeViolations(page, 'the live monitor');
}

async function main() {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

  step = 'the admin signs in';
  const admin = await newPage('admin');
  await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD, '/web/admin.html');
  await until(admin, () => document.getElementById('main')?.getAttribute('aria-busy') === 'false', null, 'the admin page did not finish loading');
  check((await admin.textContent('#org-name')) === SECOND_ORG, 'the admin page did not open her first organization');
  const offered = await admin.locator('#org-select option').allTextContents();
  check(offered.length === 2 && offered.includes(ORG) && offered.includes(SECOND_ORG), `the organization choice offers ${JSON.stringify(offered)}`);
  await admin.selectOption('#org-select', { label: ORG });
  await until(admin, (name) => document.getElementById('org-name')?.textContent === name, ORG, 'choosing the organization did not switch the page');
  check(new URL(admin.url()).searchParams.has('org'), 'the chosen organization is not kept in the address');
  ok('an admin of two organizations picks one on the admin page');
  check((await admin.textContent('#org-name')) === ORG, 'the admin page does not name the organization');
  check((await admin.textContent('h1')).includes(ORG), 'the heading does not name the organization');
  await waitFor(admin, `#members tr[data-user] >> text=${ADMIN_EMAIL}`, 'the admin is not in the member list');
  ok('an organization admin lands in the admin console with the members listed');
  await noAxeViolations(admin, 'the admin console');

  step = 'the admin invites a clinician';
  await admin.fill('#invite-email', CLINICIAN_EMAIL);
  await admin.selectOption('#invite-role', 'clinician');
  await admin.click('#invite-form button[type=submit]');
  await until(admin, () => document.getElementById('page-status')?.textContent.includes('Invitation sent'), null, 'the invitation was not confirmed');
  await waitFor(admin, `#invites tr[data-invite] >> text=${CLINICIAN_EMAIL}`, 'the invitation is not listed as open');
  ok('the invitation is sent and listed as open');

  step = 'the invite email arrives';
  const link = await mailedLink();
  check(link.startsWith(`${BASE}/invite#token=`), `the mailed link is ${link}`);
  ok('the invite email arrives through the SMTP server with its link');

  step = 'the clinician accepts in the browser';
  const clinician = await newPage('clinician');
  await clinician.goto(link, { waitUntil: 'load', timeout: STEP_MS });
  await waitFor(clinician, '#create-form:not([hidden])', 'the create-account form did not appear');
  await clinician.fill('#display-name', CLINICIAN_NAME);
  await clinician.fill('#new-password', PASSWORD);
  await clinician.click('#create-form button[type=submit]');
  await waitFor(clinician, '#done:not([hidden])', 'accepting the invitation did not finish');
  check((await clinician.textContent('#done-text')).includes(ORG), 'the page does not say they joined the organization');
  ok('the clinician creates their account from the mailed link and joins');

  step = 'the clinician signs in and lands in the console';
  await signIn(clinician, CLINICIAN_EMAIL, PASSWORD, '/web/app.html');
  await waitFor(clinician, '#conn-status[data-state="open"]', "the clinician's console did not connect", { state: 'attached' });
  ok('the clinician signs in and lands in the clinician console, connected');

  step = 'the admin sees the acceptance in the audit log';
  // Through the navigation, which keeps the chosen organization.
  await admin.click('#shell-bar a:has-text("Audit log")');
  await admin.waitForURL((url) => url.pathname === '/web/audit.html', { timeout: STEP_MS });
  await until(admin, (name) => document.getElementById('org-name')?.textContent === name, ORG, 'the audit log did not keep the chosen organization');
  await until(admin, () => document.getElementById('main')?.getAttribute('aria-busy') === 'false', null, 'the audit page did not finish loading');
  const accepted = await waitFor(admin, '#audit tr[data-action="invite.accept"]', 'the acceptance is not in the audit log');
  const acceptedText = await accepted.textContent();
  check(acceptedText.includes(CLINICIAN_NAME), `the acceptance row reads "${acceptedText}", not the clinician's name`);
  check(acceptedText.includes('Accepted an invitation'), `the acceptance row reads "${acceptedText}"`);
  await until(admin, () => document.getElementById('verdict')?.dataset.intact === 'true', null, 'the chain verdict did not say the log is intact');
  ok("the acceptance shows in the audit log viewer, by the clinician's name, and the chain verifies");

  step = 'the admin filters the audit log';
  await admin.selectOption('#f-actor', { label: `${CLINICIAN_NAME} (${CLINICIAN_EMAIL})` });
  await admin.fill('#f-action', 'invite');
  await admin.click('#audit-filters button[type=submit]');
  await until(
    admin,
    () => {
      const rows = [...document.querySelectorAll('#audit tbody tr[data-action]')];
      return rows.length === 1 && rows[0].dataset.action === 'invite.accept';
    },
    null,
    "filtering by the clinician and 'invite' did not leave exactly the acceptance",
  );
  ok('filtering by person and action narrows the log to the acceptance');
  await noAxeViolations(admin, 'the audit log viewer');

  step = "the admin sees the clinician's socket in the live monitor";
  await clinicianSocketInMonitor(admin);

  step = 'the platform admin';
  const root = await newPage('root');
  await signIn(root, ROOT_EMAIL, ROOT_PASSWORD, '/web/platform.html');
  await until(root, () => document.getElementById('main')?.getAttribute('aria-busy') === 'false', null, 'the platform page did not finish loading');
  const orgRow = await waitFor(root, `#orgs tr[data-org] >> text=${ORG}`, 'the organization is not listed');
  check((await orgRow.evaluate((n) => n.closest('tr').textContent)).includes(ADMIN_EMAIL), "the organization's admin is not listed with it");
  ok('a platform admin lands in the platform console: organizations with their admins');
  await root.fill('#new-org-name', 'Hillside Clinic');
  await root.click('#create-org button[type=submit]');
  await waitFor(root, '#orgs tr[data-org] >> text=Hillside Clinic', 'the new organization is not listed');
  check((await root.textContent('#orgs tr:has-text("Hillside Clinic")')).includes('No admin yet'), 'a new organization shows admins');
  ok('a platform admin creates an organization');
  await root.fill('#pa-email', ADMIN_EMAIL);
  await root.click('#add-platform-admin button[type=submit]');
  const added = await waitFor(root, `#platform-admins tr >> text=${ADMIN_EMAIL}`, 'the new platform admin is not listed');
  const addedId = await added.evaluate((n) => n.closest('tr').dataset.user);
  root.once('dialog', (d) => d.accept());
  await root.click(`#platform-admins tr[data-user="${addedId}"] button`);
  await waitFor(root, `#platform-admins tr[data-user="${addedId}"]`, 'the removed platform admin is still listed', { state: 'detached' });
  ok('a platform admin adds and removes a platform admin');
  await noAxeViolations(root, 'the platform console');

  step = 'the admin pages refuse a clinician and a patient';
  const patient = await newPage('patient');
  await signIn(patient, PATIENT_EMAIL, PASSWORD, '/web/portal.html');
  for (const [who, page] of [['clinician', clinician], ['patient', patient]]) {
    for (const path of ['/web/admin.html', '/web/audit.html', '/web/platform.html']) {
      await page.goto(`${BASE}${path}`, { waitUntil: 'load', timeout: STEP_MS });
      await waitFor(page, 'h1:has-text("This page is not available to your account")', `${path} was not refused to a ${who}`);
      check((await page.$('#members, #audit, #orgs, #invite-form')) === null, `${path} shows admin content to a ${who}`);
    }
    await noAxeViolations(page, `the refusal page, for a ${who}`);
  }
  ok('a clinician and a patient are refused the admin and platform pages');

  step = 'browser console';
  check(problems.length === 0, `the pages logged errors:\n  ${problems.join('\n  ')}`);
  ok('no console errors, failed requests or CSP violations');
  await browser.close();
  console.log(`${passed} passed, 0 failed`);
}

main().catch(fail);
