#!/usr/bin/env node
// The invite page in a real browser (Debian's Chromium driven by playwright-core):
// a new person opens the mailed link `/invite#token=…`, the token leaves the
// address bar at once, and they create their account and join; the same person
// then accepts a second invite by signing in on the page; a used link says so.
// Any console error, failed request or Content-Security-Policy violation fails
// the run.
//
// Environment:
//   HUB_URL                  base URL of a running hub
//   HB_NEW_TOKEN             an invite for an email without an account (HB_EMAIL)
//   HB_NEW_ORG               the name of its organization
//   HB_EXISTING_TOKEN        a second invite for HB_EMAIL, from HB_EXISTING_ORG
//   HB_EXISTING_ORG
//   HB_EMAIL, HB_PASSWORD    the invitee's address and the password they choose
//   CHROMIUM_PATH            default /usr/bin/chromium
//   HB_ARTIFACTS_DIR         where a screenshot goes on failure
//   HB_STEP_TIMEOUT_MS       per wait, default 15000
//
// Exits 0 when every check passed, 1 with "FAIL: <step>: <why>" otherwise.

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback !== undefined) return fallback;
  console.error(`FAIL: setup: environment variable ${name} is required`);
  process.exit(2);
};

const BASE = env('HUB_URL').replace(/\/+$/, '');
const NEW_TOKEN = env('HB_NEW_TOKEN');
const NEW_ORG = env('HB_NEW_ORG');
const EXISTING_TOKEN = env('HB_EXISTING_TOKEN');
const EXISTING_ORG = env('HB_EXISTING_ORG');
const EMAIL = env('HB_EMAIL');
const PASSWORD = env('HB_PASSWORD');
const CHROMIUM = env('CHROMIUM_PATH', '/usr/bin/chromium');
const STEP_MS = Number(env('HB_STEP_TIMEOUT_MS', '15000'));

let passed = 0;
let step = 'setup';
let browser = null;
let page = null;
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
    const dir = process.env.HB_ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'hb-invite-'));
    mkdirSync(dir, { recursive: true });
    if (page) await page.screenshot({ path: join(dir, 'failure-invite.png'), fullPage: true, timeout: 5000 });
  } catch {
    /* screenshots are best effort */
  }
  console.error(`${passed} passed, 1 failed`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

/** Waits until the card `id` is shown; fails the step with `message` otherwise. */
async function shown(id, message) {
  try {
    await page.waitForSelector(`#${id}:not([hidden])`, { timeout: STEP_MS });
  } catch (e) {
    if (e?.name === 'TimeoutError') throw new Failure(`${message} (waited ${STEP_MS} ms)`);
    throw e;
  }
}

async function open(token) {
  // From /invite, a link that differs only in its fragment would not reload the page.
  await page.goto('about:blank');
  const resp = await page.goto(`${BASE}/invite#token=${token}`, { waitUntil: 'load', timeout: STEP_MS });
  check(resp?.status() === 200, `/invite answered ${resp?.status()}`);
}

async function main() {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await (await browser.newContext()).newPage();
  page.on('console', (msg) => {
    // The used link's 410 answer is expected; Chromium logs every 4xx it fetches.
    if (msg.type() === 'error' && !msg.text().includes('status of 410')) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? '';
    if (!failure.includes('ERR_ABORTED')) problems.push(`request failed: ${req.url()} ${failure}`);
  });

  step = 'a new person opens the mailed link';
  await open(NEW_TOKEN);
  await shown('create-form', 'the create-account form did not appear');
  check(!page.url().includes('#') && !page.url().includes(NEW_TOKEN), `the token stayed in the address bar: ${page.url()}`);
  ok('the invite page opens and takes the token out of the address bar');

  step = 'they create their account';
  await page.fill('#display-name', 'Dr Rui Costa');
  await page.fill('#new-password', 'short');
  await page.click('#create-form button[type=submit]');
  await shown('create-error', 'a short password was not refused on the page');
  await page.fill('#new-password', PASSWORD);
  await page.click('#create-form button[type=submit]');
  await shown('done', 'accepting with a new account did not finish');
  const joined = await page.textContent('#done-text');
  check(joined.includes(NEW_ORG), `the page says "${joined}", not that they joined ${NEW_ORG}`);
  ok('a new account is created and joins the organization');

  step = 'a used link says so';
  await open(NEW_TOKEN);
  await page.fill('#display-name', 'Someone Else');
  await page.fill('#new-password', PASSWORD);
  await page.click('#create-form button[type=submit]');
  await shown('invalid', 'reusing the link did not show that it cannot be used');
  const used = await page.textContent('#invalid-text');
  check(used.includes('already used'), `a used invite reads "${used}"`);
  ok('a used invite link is refused with a clear message');

  step = 'an existing account signs in on the page and accepts';
  await open(EXISTING_TOKEN);
  await shown('create-form', 'the invite page did not appear');
  await page.click('#show-sign-in');
  await shown('sign-in-form', 'the sign-in form did not appear');
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('#sign-in-form button[type=submit]');
  await shown('done', 'signing in and accepting did not finish');
  const second = await page.textContent('#done-text');
  check(second.includes(EXISTING_ORG), `the page says "${second}", not that they joined ${EXISTING_ORG}`);
  ok('a signed-in account accepts into itself');

  step = 'browser console';
  check(problems.length === 0, `the page logged errors:\n  ${problems.join('\n  ')}`);
  ok('no console errors, failed requests or CSP violations');
  await browser.close();
  console.log(`${passed} passed, 0 failed`);
}

main().catch(fail);
