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
//   CHROMIUM_PATH                   default /usr/bin/chromium
//   HB_ARTIFACTS_DIR                where a screenshot goes on failure
//   HB_STEP_TIMEOUT_MS              per wait, default 15000
//
// Exits 0 when every check passed, 1 with "FAIL: <step>: <why>" otherwise.

import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback !== undefined) return fallback;
  console.error(`FAIL: setup: environment variable ${name} is required`);
  process.exit(2);
};

const BASE = env('HUB_URL').replace(/\/+$/, '');
const ADMIN = env('HB_ADMIN_EMAIL');
const CLINICIAN = env('HB_CLINICIAN_EMAIL');
const PASSWORD = env('HB_PASSWORD');
const ORG = env('HB_ORG_NAME');
const PLATFORM = env('HB_PLATFORM_EMAIL');
const PLATFORM_PASSWORD = env('HB_PLATFORM_PASSWORD');
const CHROMIUM = env('CHROMIUM_PATH', '/usr/bin/chromium');
const STEP_MS = Number(env('HB_STEP_TIMEOUT_MS', '15000'));
const AXE = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'node_modules/axe-core/axe.min.js'), 'utf8');

/** The figure other tests read too (keep in step with web/js/monitor/render.js). */
const CLINICIANS_HERE = '#nodes tr[data-this-node] td[data-figure="clinician"]';

let passed = 0;
let step = 'setup';
let browser = null;
let shot = null;
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
    const dir = process.env.HB_ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'hb-monitor-'));
    mkdirSync(dir, { recursive: true });
    if (shot) await shot.screenshot({ path: join(dir, 'failure-monitor.png'), fullPage: true, timeout: 5000 });
  } catch {
    /* screenshots are best effort */
  }
  console.error(`${passed} passed, 1 failed`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

/** A page in a context of its own (a separate person), watched for problems. */
async function newPerson(label) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => {
    // Sign-in lands an admin on the admin or platform console, which may not be
    // served by this build yet; the 404 of that landing page is not the monitor's.
    const where = msg.location()?.url ?? '';
    const landing = /\/web\/(admin|platform)\.html/.test(where) && msg.text().includes('404');
    if (msg.type() === 'error' && !landing) {
      problems.push(`${label} console error: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`${label} uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? '';
    if (!failure.includes('ERR_ABORTED')) problems.push(`${label} request failed: ${req.url()} ${failure}`);
  });
  return { context, page };
}

async function signIn(page, email, password) {
  const resp = await page.goto(`${BASE}/`, { waitUntil: 'load', timeout: STEP_MS });
  check(resp?.status() === 200, `GET / answered ${resp?.status()}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  try {
    await page.waitForURL((url) => !url.pathname.endsWith('/') && url.pathname !== '/index.html', { timeout: STEP_MS });
  } catch {
    const error = await page.locator('#login-error').textContent().catch(() => '');
    throw new Failure(`${email} was not signed in; the form says: ${error || '(nothing)'}`);
  }
}

async function openMonitor(page) {
  const resp = await page.goto(`${BASE}/web/monitor.html`, { waitUntil: 'load', timeout: STEP_MS });
  check(resp?.status() === 200, `/web/monitor.html answered ${resp?.status()}`);
}

/** Waits until the figure reads `want`; fails with what it read. */
async function figureReads(page, want, why) {
  try {
    await page.waitForFunction(
      ([sel, n]) => document.querySelector(sel)?.textContent.trim() === n,
      [CLINICIANS_HERE, want],
      { timeout: STEP_MS },
    );
  } catch (e) {
    const now = await page.locator(CLINICIANS_HERE).textContent().catch(() => '(no such cell)');
    throw new Failure(`${why}: the clinician figure reads ${now}, not ${want}`);
  }
}

async function axeClean(page, what) {
  // The page's CSP forbids inline scripts: axe-core's source is evaluated instead.
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await globalThis.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  check(result.length === 0, `axe-core found on ${what}: ${result.join('; ')}`);
}

async function main() {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

  step = 'the organization admin opens the live monitor';
  const admin = await newPerson('admin');
  shot = admin.page;
  await signIn(admin.page, ADMIN, PASSWORD);
  await openMonitor(admin.page);
  await admin.page.waitForSelector(CLINICIANS_HERE, { timeout: STEP_MS });
  await figureReads(admin.page, '0', 'before anyone else signs in');
  const options = await admin.page.locator('#scope-select option').allTextContents();
  check(options.length === 1 && options[0] === ORG, `the organization choice offers ${JSON.stringify(options)}`);
  const adminsHere = await admin.page.locator('#nodes tr[data-this-node] td[data-figure="admin"]').textContent();
  check(adminsHere.trim() === '1', `the admin's own socket reads ${adminsHere}`);
  const status = await admin.page.locator('#monitor-status').textContent();
  check(/updates every 2 seconds/.test(status), `the status reads "${status}"`);
  ok('the monitor shows this node with no clinician and the admin');

  step = 'the page passes axe-core';
  await axeClean(admin.page, 'the live monitor');
  ok('axe-core finds no violation on the live monitor');

  step = 'a clinician signs in in another browser';
  const clinician = await newPerson('clinician');
  await signIn(clinician.page, CLINICIAN, PASSWORD);
  await figureReads(admin.page, '1', 'after the clinician signed in');
  const text = await admin.page.locator('main').innerText();
  check(!/\b1[6-9]\d{11}\b/.test(text), 'an epoch number is on the page');
  ok('the clinician figure rises to 1 without a reload');

  step = 'the clinician leaves';
  await clinician.context.close();
  await figureReads(admin.page, '0', 'after the clinician closed the browser');
  ok('the clinician figure falls back to 0');

  step = 'a platform admin watches every organization';
  const platform = await newPerson('platform');
  shot = platform.page;
  await signIn(platform.page, PLATFORM, PLATFORM_PASSWORD);
  await openMonitor(platform.page);
  await platform.page.waitForSelector(CLINICIANS_HERE, { timeout: STEP_MS });
  const all = await platform.page.locator('#scope-select option').allTextContents();
  check(all[0] === 'All organizations' && all.includes(ORG), `the platform choice offers ${JSON.stringify(all)}`);
  await platform.page.selectOption('#scope-select', { label: ORG });
  // The organization's admins only (Ada, and the platform admin if a member there).
  await platform.page.waitForFunction(
    () => {
      const n = Number(document.querySelector('#nodes tr[data-this-node] td[data-figure="admin"]')?.textContent);
      return n >= 1 && n <= 2;
    },
    null,
    { timeout: STEP_MS },
  );
  ok('a platform admin chooses between everything and one organization');

  check(problems.length === 0, problems.join('; '));
  console.log(`${passed} passed, 0 failed`);
  await browser.close();
}

main().catch(fail);
