#!/usr/bin/env node
// End-to-end test of the clinician console in a real browser (Debian's
// Chromium driven by playwright-core): two users sign in through the UI (B
// with the keyboard only), open the same room, see each other online, see each
// other typing, exchange messages, see read receipts, and find the
// conversation again after a reload. A second session of B, whose socket the
// test routes, loses its connection, recovers a missed message with `since`,
// and refreshes its access token early. User A, a provider, books an
// appointment for a patient and the console announces the provider's notice in
// words, never the raw event. Any console error, failed request or
// Content-Security-Policy violation fails the run.
//
// Environment:
//   HUB_URL                 base URL of a running hub, e.g. http://127.0.0.1:8080
//   HB_USER_A_EMAIL, HB_USER_A_PASSWORD
//   HB_USER_B_EMAIL, HB_USER_B_PASSWORD
//   HB_ROOM_ID              a room both users are members of
//   HB_BOOKING              JSON {"org_id","type_id","type_name","patient_id",
//                           "patient_name","starts_at"}: an appointment user A may
//                           book with themself as provider (A's locale en, zone UTC)
//   CHROMIUM_PATH           default /usr/bin/chromium
//   HB_ARTIFACTS_DIR        where screenshots go on failure (default: a temp dir)
//   HB_STEP_TIMEOUT_MS      per wait, default 15000
//   HB_TOTAL_TIMEOUT_MS     whole run, default 150000
//
// Exits 0 when every check passed, 1 with "FAIL: <step>: <why>" otherwise.

import { mkdtempSync, mkdirSync } from 'node:fs';
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
const USERS = {
  A: { email: env('HB_USER_A_EMAIL'), password: env('HB_USER_A_PASSWORD') },
  B: { email: env('HB_USER_B_EMAIL'), password: env('HB_USER_B_PASSWORD') },
};
const ROOM = env('HB_ROOM_ID');
const BOOKING = JSON.parse(env('HB_BOOKING'));
const CHROMIUM = env('CHROMIUM_PATH', '/usr/bin/chromium');
const STEP_MS = Number(env('HB_STEP_TIMEOUT_MS', '15000'));
const TOTAL_MS = Number(env('HB_TOTAL_TIMEOUT_MS', '150000'));
const EXPECTED_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
  "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

let passed = 0;
let step = 'setup';
let browser = null;
const pages = {};
const problems = []; // console errors, CSP violations, uncaught exceptions

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
    const dir = process.env.HB_ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'hb-browser-'));
    mkdirSync(dir, { recursive: true });
    for (const [who, page] of Object.entries(pages)) {
      const file = join(dir, `failure-${who}.png`);
      await page.screenshot({ path: file, fullPage: true, timeout: 5000 }).catch(() => {});
      console.error(`  screenshot of user ${who}: ${file}`);
    }
  } catch {
    /* screenshots are best effort */
  }
  console.error(`${passed} passed, 1 failed`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

const deadline = setTimeout(() => {
  fail(new Failure(`the whole run took longer than ${TOTAL_MS} ms`));
}, TOTAL_MS);

/** Waits for `fn` (run in the page) to return truthy; fails the step with `message` otherwise. */
async function waitIn(page, message, fn, arg) {
  try {
    return await page.waitForFunction(fn, arg, { timeout: STEP_MS, polling: 100 });
  } catch (e) {
    if (e?.name === 'TimeoutError') throw new Failure(`${message} (waited ${STEP_MS} ms)`);
    throw e;
  }
}

function watch(page, who) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${who} console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${who} uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    // Navigations away from a page abort its pending requests; those are fine.
    const failure = req.failure()?.errorText ?? '';
    if (!failure.includes('ERR_ABORTED')) problems.push(`${who} request failed: ${req.url()} ${failure}`);
  });
}

function assertNoBrowserProblems() {
  const csp = problems.filter((p) => /Content Security Policy|Refused to/i.test(p));
  check(csp.length === 0, `the Content-Security-Policy blocked something:\n  ${csp.join('\n  ')}`);
  check(problems.length === 0, `the pages logged errors:\n  ${problems.join('\n  ')}`);
}

/** Presses Tab until `matches(document.activeElement)` holds (at most `max` times). */
async function tabTo(page, what, matches, arg, max = 25) {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(matches, arg)) return;
  }
  throw new Failure(`could not reach ${what} with the Tab key`);
}

/** The focused element shows a visible focus indicator (outline of 2px or more). */
async function assertFocusVisible(page, what) {
  const outline = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  check(outline.style !== 'none' && outline.width >= 2, `${what} has no visible focus (${JSON.stringify(outline)})`);
}

async function signIn(who, { keyboard = false } = {}) {
  const page = pages[who];
  const user = USERS[who];
  step = `user ${who} signs in${keyboard ? ' with the keyboard only' : ''}`;
  const resp = await page.goto(`${BASE}/`, { waitUntil: 'load', timeout: STEP_MS });
  check(resp && resp.status() === 200, `GET / answered ${resp?.status()}`);
  const headers = resp.headers();
  check(headers['content-security-policy'] === EXPECTED_CSP, `CSP of / is ${headers['content-security-policy']}`);
  check(headers['content-type']?.startsWith('text/html'), `content type of / is ${headers['content-type']}`);

  if (keyboard) {
    await tabTo(page, 'the email field', () => document.activeElement?.id === 'email');
    await assertFocusVisible(page, 'the email field');
    await page.keyboard.type(user.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(user.password);
    await page.keyboard.press('Enter');
  } else {
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  try {
    await page.waitForURL('**/web/app.html**', { timeout: STEP_MS });
  } catch {
    const error = await page.locator('#login-error').textContent().catch(() => '');
    throw new Failure(`did not reach the rooms page; the form says: ${error || '(nothing)'}`);
  }
  await waitIn(page, 'the signed-in user never appeared in the header', () => {
    const w = document.getElementById('whoami');
    return w && !w.hidden && w.dataset.userId;
  });
  const id = await page.locator('#whoami').getAttribute('data-user-id');
  const name = (await page.locator('#whoami-name').textContent()).trim();
  // Tokens must not be kept in localStorage.
  const local = await page.evaluate(() => Object.keys(localStorage).length);
  check(local === 0, 'something was written to localStorage');
  check(!page.url().includes('token'), 'a token is in the URL');
  ok(`user ${who} (${name}) signed in through the form${keyboard ? ' with the keyboard only' : ''}`);
  return { id, name };
}

async function openRoom(who, { keyboard = false } = {}) {
  const page = pages[who];
  step = `user ${who} opens the room${keyboard ? ' with the keyboard only' : ''}`;
  const link = page.locator(`#rooms-list a[data-room-id="${ROOM}"]`);
  try {
    await link.waitFor({ timeout: STEP_MS });
  } catch {
    const status = await page.locator('#rooms-status').textContent().catch(() => '');
    throw new Failure(`room ${ROOM} is not in the room list (${status || 'no status'})`);
  }
  if (keyboard) {
    await tabTo(page, 'the room link', (id) => document.activeElement?.dataset?.roomId === id, ROOM);
    await assertFocusVisible(page, 'the room link');
    await page.keyboard.press('Enter');
  } else {
    await link.click();
  }
  await waitIn(page, 'the live connection never opened', () =>
    document.getElementById('conn-status')?.dataset.state === 'open',
  );
  await waitIn(page, 'the room never finished loading', () => {
    const view = document.getElementById('room-view');
    const status = document.getElementById('history-status')?.textContent ?? '';
    return view && !view.hidden && !status.startsWith('Loading');
  });
  const error = page.locator('#room-error');
  check(!(await error.isVisible()), `the room shows an error: ${await error.textContent()}`);
  ok(`user ${who} opened the room${keyboard ? ' with the keyboard' : ''} and is connected`);
}

async function expectOnline(who, other) {
  step = `user ${who} sees ${other.name} online`;
  await waitIn(
    pages[who],
    `${other.name} (${other.id}) is not in the presence list`,
    (id) => !!document.querySelector(`#presence-list li[data-user-id="${id}"]`),
    other.id,
  );
  const text = await pages[who].locator(`#presence-list li[data-user-id="${other.id}"]`).textContent();
  check(text.includes(other.name), `presence shows "${text}" instead of ${other.name}`);
  ok(`user ${who} sees ${other.name} online`);
}

/** `from` types and sends `text` with the keyboard; `to` sees typing, then the message. */
async function converse(from, to, ids, text, { keyboard = false } = {}) {
  const sender = pages[from];
  const receiver = pages[to];
  step = `user ${from} types`;
  const box = sender.getByRole('textbox', { name: 'Message', exact: true });
  if (keyboard) {
    await tabTo(sender, 'the message field', () => document.activeElement?.id === 'message-input');
    await assertFocusVisible(sender, 'the message field');
  } else {
    await box.click();
  }
  await sender.keyboard.type(text.slice(0, 12), { delay: 30 });
  await waitIn(
    receiver,
    `user ${to} never saw "${ids[from].name} is typing"`,
    (name) => (document.getElementById('typing')?.textContent ?? '').includes(`${name} is typing`),
    ids[from].name,
  );
  ok(`user ${to} sees that ${ids[from].name} is typing`);

  step = `user ${from} sends a message`;
  await sender.keyboard.type(text.slice(12));
  await sender.keyboard.press('Enter');
  await waitIn(
    sender,
    'the sent message never left the "Sending…" state',
    (t) =>
      [...document.querySelectorAll('#messages li.msg')].some(
        (li) => !li.classList.contains('pending') && li.querySelector('.msg-body')?.textContent === t,
      ),
    text,
  );
  check((await box.inputValue()) === '', 'the composer was not cleared after sending');

  step = `user ${to} receives the message`;
  await waitIn(
    receiver,
    `user ${to} never received "${text}"`,
    (t) => [...document.querySelectorAll('#messages .msg-body')].some((b) => b.textContent === t),
    text,
  );
  const sentBy = await receiver
    .locator('#messages li.msg', { hasText: text })
    .locator('.msg-sender')
    .textContent();
  check(sentBy === ids[from].name, `the message is attributed to "${sentBy}", not ${ids[from].name}`);
  const announced = await receiver.locator('#announcer').textContent();
  check(announced.includes(text), 'the new message was not announced in the aria-live region');
  for (const who of [from, to]) {
    const count = await pages[who].locator('#messages .msg-body', { hasText: text }).count();
    check(count === 1, `user ${who} shows the message ${count} times`);
  }
  ok(`user ${to} received "${text}" from ${ids[from].name}, shown once on both sides`);
}

async function expectSeenBy(who, reader, text) {
  step = `user ${who} sees that ${reader.name} read the message`;
  await waitIn(
    pages[who],
    `no "Seen by ${reader.name}" on "${text}"`,
    ({ t, name }) => {
      const li = [...document.querySelectorAll('#messages li.msg.mine')].find(
        (l) => l.querySelector('.msg-body')?.textContent === t,
      );
      return li?.querySelector('.msg-seen')?.textContent.includes(name);
    },
    { t: text, name: reader.name },
  );
  ok(`user ${who} sees "Seen by ${reader.name}"`);
}

/** Resolvable promise. */
function gate() {
  let open;
  const promise = new Promise((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * User B's second session, in its own context, with its WebSocket routed
 * through the test (the other two use the browser's own sockets): cut the
 * connection, hold the reconnect while A sends, and check that B recovers the
 * missed message with `since`; then force an early token refresh and check
 * the socket is handed the new token with a `refresh` frame.
 */
async function resilience(ids) {
  step = 'user B signs in a second time (routed socket)';
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const log = { connections: 0, sent: [], received: [], current: null, hold: null };
  await context.routeWebSocket(/\/ws$/, async (ws) => {
    log.connections += 1;
    if (log.hold) await log.hold.promise;
    const server = ws.connectToServer();
    log.current = { ws, server };
    ws.onMessage((m) => {
      log.sent.push(JSON.parse(String(m)));
      server.send(m);
    });
    server.onMessage((m) => {
      log.received.push(JSON.parse(String(m)));
      ws.send(m);
    });
  });
  pages.B2 = await context.newPage();
  watch(pages.B2, 'B2');
  USERS.B2 = USERS.B;
  await signIn('B2');
  await openRoom('B2');
  const before = log.sent.filter((f) => f.type === 'subscribe').length;
  check(before === 1, `expected one subscribe on the first connection, saw ${before}`);

  step = 'the connection of B2 is cut (4004) and its reconnect held back';
  log.hold = gate();
  const { ws, server } = log.current;
  await ws.close({ code: 4004, reason: 'slow consumer (test)' });
  await server.close().catch(() => {});
  await waitIn(pages.B2, 'the page did not notice the lost connection', () =>
    ['reconnecting', 'connecting'].includes(document.getElementById('conn-status')?.dataset.state),
  );
  const status = await pages.B2.locator('#conn-status').textContent();
  ok(`B2 shows the lost connection ("${status}")`);

  step = 'user A sends while B2 is disconnected';
  const missed = `Sent while B2 was away ${Date.now().toString(36)}`;
  const box = pages.A.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(missed);
  await box.press('Enter');
  await waitIn(
    pages.A,
    'the message sent while B2 was away was not stored',
    (t) =>
      [...document.querySelectorAll('#messages li.msg:not(.pending) .msg-body')].some((b) => b.textContent === t),
    missed,
  );

  step = 'B2 reconnects and recovers the missed message';
  const sentBefore = log.sent.length;
  log.hold.open();
  log.hold = null;
  await waitIn(pages.B2, 'B2 did not reconnect', () =>
    document.getElementById('conn-status')?.dataset.state === 'open',
  );
  await waitIn(
    pages.B2,
    'B2 never showed the message sent while it was away',
    (t) => [...document.querySelectorAll('#messages .msg-body')].filter((b) => b.textContent === t).length === 1,
    missed,
  );
  const after = log.sent.slice(sentBefore);
  check(after[0]?.type === 'auth', `the first frame after reconnecting was ${after[0]?.type}, not auth`);
  const resub = after.find((f) => f.type === 'subscribe');
  check(resub?.since && typeof resub.since.offset === 'number', 'the re-subscribe carried no since');
  const reply = log.received.find((f) => f.id === resub.id);
  check(reply?.type === 'reply', `the re-subscribe was answered with ${JSON.stringify(reply)}`);
  check(
    reply.result.recovered === true &&
      (reply.result.missed ?? []).some((e) => e.body === missed),
    `the server did not recover the missed message: ${JSON.stringify(reply.result)}`,
  );
  const count = await pages.B2.locator('#messages .msg-body', { hasText: missed }).count();
  check(count === 1, `B2 shows the recovered message ${count} times`);
  check(log.connections === 2, `expected 2 connections, saw ${log.connections}`);
  ok(`B2 reconnected, subscribed with since=${resub.since.offset} and recovered the missed message once`);

  step = 'B2 refreshes its access token early';
  // The access token lives in the page's memory only (the refresh token is an
  // HttpOnly cookie); the page exposes its session as `__hbSession` for tests.
  const old = await pages.B2.evaluate(() => window.__hbSession.s.access_token);
  log.sent.length = 0;
  log.received.length = 0;
  // Pretend the token expires in 61 s: the page refreshes 60 s before expiry.
  await pages.B2.evaluate(() => {
    window.__hbSession.s.expires_at = Date.now() + 61_000;
    window.__hbSession.schedule();
  });
  await waitIn(
    pages.B2,
    'the access token was not refreshed',
    (oldToken) => window.__hbSession?.s.access_token !== oldToken,
    old,
  );
  const refreshFrame = await (async () => {
    const until = Date.now() + STEP_MS;
    while (Date.now() < until) {
      const f = log.sent.find((x) => x.type === 'refresh');
      if (f && log.received.some((r) => r.id === f.id)) return f;
      await new Promise((r) => setTimeout(r, 100));
    }
    return log.sent.find((x) => x.type === 'refresh');
  })();
  check(refreshFrame, 'no refresh frame was sent on the socket');
  const fresh = await pages.B2.evaluate(() => window.__hbSession.s.access_token);
  check(refreshFrame.token === fresh, 'the refresh frame did not carry the new access token');
  const refreshReply = log.received.find((r) => r.id === refreshFrame.id);
  check(refreshReply?.type === 'reply', `the refresh frame was answered with ${JSON.stringify(refreshReply)}`);
  check(refreshReply.result?.token_expires_at, 'the refresh reply has no token_expires_at');
  ok('B2 refreshed its token over REST and handed it to the socket');

  step = "B's second session ends while the first stays";
  await context.close();
  delete pages.B2;
  await new Promise((r) => setTimeout(r, 1500));
  const stillOnline = await pages.A.locator(`#presence-list li[data-user-id="${ids.B.id}"]`).count();
  check(stillOnline === 1, `${ids.B.name} went offline for A although one of B's sessions is still in the room`);
  ok(`closing one of two sessions keeps ${ids.B.name} online`);
}

/**
 * User A books an appointment with themself as provider; A's console announces
 * the provider's notice ("New appointment with <patient> (<type>) …", the
 * notifier's text for the provider) and never the raw `appointment.book` event.
 */
async function bookingIsAnnouncedInWords(ids) {
  step = 'user A books an appointment for a patient';
  const status = await pages.A.evaluate(async ({ booking, provider }) => {
    const token = window.__hbSession.s.access_token;
    const res = await fetch(`/api/v1/orgs/${booking.org_id}/appointments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        provider_id: provider,
        type_id: booking.type_id,
        patient_id: booking.patient_id,
        starts_at: booking.starts_at,
      }),
    });
    return res.status;
  }, { booking: BOOKING, provider: ids.A.id });
  check(status === 201, `booking answered ${status}`);
  const expected = `New appointment: New appointment with ${BOOKING.patient_name} (${BOOKING.type_name}) at `;
  step = 'user A hears of the booking';
  await waitIn(
    pages.A,
    `the booking was not announced as "${expected}…"`,
    (t) => document.getElementById('announcer')?.textContent.includes(t),
    expected,
  );
  const lines = await pages.A.locator('#announcer > *').allTextContents();
  check(!lines.some((l) => l.includes('Appointment book')), `the raw event was announced: ${JSON.stringify(lines)}`);
  const notice = lines.find((l) => l.includes(expected));
  check(!notice.includes(ids.A.name), `the provider's notice names the provider: "${notice}"`);
  ok(`user A's console announced "${expected}…" and not the raw event`);
}

async function main() {
  step = 'launch Chromium';
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core gives every launch a fresh, temporary user data dir.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30000,
  });
  ok(`Chromium ${browser.version()} started`);

  for (const who of ['A', 'B']) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    pages[who] = await context.newPage();
    watch(pages[who], who);
  }

  const ids = {};
  ids.A = await signIn('A');
  ids.B = await signIn('B', { keyboard: true });
  check(ids.A.id !== ids.B.id, 'both users have the same id');

  await openRoom('A');
  await openRoom('B', { keyboard: true });
  await expectOnline('A', ids.B);
  await expectOnline('B', ids.A);

  const stamp = Date.now().toString(36);
  const fromA = `Hello from A, BP 120/80 <b>${stamp}</b>`;
  const fromB = `Reply from B: noted & agreed ${stamp}`;
  await converse('A', 'B', ids, fromA);
  await converse('B', 'A', ids, fromB, { keyboard: true });

  // Both pages show the newest messages, so each sends a read receipt.
  await expectSeenBy('A', ids.B, fromA);
  await expectSeenBy('B', ids.A, fromB);

  step = 'user B reloads the page';
  await pages.B.reload({ waitUntil: 'load', timeout: STEP_MS });
  check(pages.B.url().includes('/web/app.html'), `after a reload user B is at ${pages.B.url()} (signed out?)`);
  await waitIn(pages.B, 'the room did not reopen after a reload', () =>
    document.getElementById('conn-status')?.dataset.state === 'open' &&
    !document.getElementById('room-view')?.hidden,
  );
  for (const text of [fromA, fromB]) {
    await waitIn(
      pages.B,
      `"${text}" is not in the history after a reload`,
      (t) => [...document.querySelectorAll('#messages .msg-body')].filter((b) => b.textContent === t).length === 1,
      text,
    );
  }
  ok('after a reload user B is still signed in and the history shows both messages once');
  await expectOnline('A', ids.B);

  await resilience(ids);
  await bookingIsAnnouncedInWords(ids);

  step = 'markup was not interpreted';
  const bold = await pages.B.locator('#messages b').count();
  check(bold === 0, 'a message body was rendered as HTML');
  ok('message bodies are shown as text, not HTML');

  step = 'the chat on a phone';
  await pages.B.setViewportSize({ width: 375, height: 740 });
  await waitIn(pages.B, 'the open room is not shown at 375 px', () => !document.getElementById('room-view')?.hidden);
  const phone = await pages.B.evaluate(() => {
    const box = document.getElementById('composer').getBoundingClientRect();
    return { wide: document.documentElement.scrollWidth, top: box.top, bottom: box.bottom, height: innerHeight };
  });
  check(phone.wide <= 375, `the console scrolls sideways at 375 px (${phone.wide} px wide)`);
  check(phone.top >= 0 && phone.bottom <= phone.height, `the composer is off screen at 375 px: ${JSON.stringify(phone)}`);
  ok('at 375 px the open room fits the width and its composer is on screen without scrolling');

  step = 'browser console';
  assertNoBrowserProblems();
  ok('no console errors, failed requests or CSP violations');

  clearTimeout(deadline);
  await browser.close();
  console.log(`${passed} passed, 0 failed`);
}

main().catch(fail);

