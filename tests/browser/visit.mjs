#!/usr/bin/env node
// End-to-end test of video visits in a real browser (Debian's Chromium with
// fake camera and microphone, driven by playwright-core), three people in
// three browser contexts:
//
//   1. the clinician signs in and opens the visit console from the console's
//      navigation, and opens the visit (watching: it is not live yet);
//   2. the patient opens the visit link (the token leaves the address bar),
//      passes the device check (camera preview, moving microphone level) and
//      joins with the keyboard: the waiting room names the clinician;
//   3. the clinician sees the patient in the live queue and admits them;
//      both pages then decode each other's video and receive each other's
//      audio (RTCPeerConnection.getStats), on tiles labelled with the names;
//   4. the patient's connection drops (the test cuts its WebSocket): the page
//      shows "Reconnecting…", joins again on a new socket with a fresh offer
//      on a new peer connection, and media flows again both ways;
//   5. mute and camera off show on the clinician's tile of the patient
//      (visit_media); the clinician shares a screen on the same video sender
//      and the patient sees "Sharing screen" (skipped if this Chromium cannot
//      capture a screen);
//   6. the clinician invites an interpreter from the console; the interpreter
//      opens that link, waits, is admitted, and all three get each other's
//      media; the console shows each participant's connection quality
//      (visit_stats);
//   7. the patient leaves: the clinician's page shows it, the others' tiles
//      of the patient go; the clinician ends the visit and the interpreter
//      is told "This visit has ended".
//
// Any console error, failed request or CSP violation fails the run.
//
// Environment:
//   HUB_URL                 base URL of a running hub, e.g. http://127.0.0.1:8080
//   HB_CLINICIAN_EMAIL, HB_CLINICIAN_PASSWORD   the host of the visit
//   HB_VISIT_ID             the visit
//   HB_PATIENT_LINK         its patient link (…/visit#t=…); only path and fragment are used
//   HB_PATIENT_NAME         optional: the patient's display name, checked on the tiles
//   CHROMIUM_PATH           default /usr/bin/chromium
//   HB_ARTIFACTS_DIR        screenshots on failure (default: a temporary directory)
//   HB_SCREENSHOTS_DIR      optional: screenshots of the three pages in the call
//   HB_STEP_TIMEOUT_MS      per wait, default 20000
//   HB_TOTAL_TIMEOUT_MS     whole run, default 240000
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
const CLINICIAN = { email: env('HB_CLINICIAN_EMAIL'), password: env('HB_CLINICIAN_PASSWORD') };
const VISIT = env('HB_VISIT_ID');
const PATIENT_LINK = env('HB_PATIENT_LINK');
const PATIENT_NAME = env('HB_PATIENT_NAME', '');
const INTERPRETER_NAME = 'Ines Interpreter';
const CHROMIUM = env('CHROMIUM_PATH', '/usr/bin/chromium');
const STEP_MS = Number(env('HB_STEP_TIMEOUT_MS', '20000'));
const TOTAL_MS = Number(env('HB_TOTAL_TIMEOUT_MS', '240000'));

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
    const dir = process.env.HB_ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'hb-visit-'));
    mkdirSync(dir, { recursive: true });
    for (const [who, page] of Object.entries(pages)) {
      const file = join(dir, `failure-${who}.png`);
      await page.screenshot({ path: file, fullPage: true, timeout: 5000 }).catch(() => {});
      console.error(`  screenshot of ${who}: ${file}`);
      const state = await page
        .evaluate(() => ({ url: location.pathname, phase: window.__hbVisit?.phase, pc: window.__hbVisit?.pc?.connectionState }))
        .catch(() => null);
      if (state) console.error(`  ${who}: ${JSON.stringify(state)}`);
    }
  } catch {
    /* best effort */
  }
  console.error(`${passed} passed, 1 failed`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

const deadline = setTimeout(() => {
  fail(new Failure(`the whole run took longer than ${TOTAL_MS} ms`));
}, TOTAL_MS);

async function waitIn(page, message, fn, arg, timeout = STEP_MS) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 200 });
  } catch (e) {
    if (e?.name === 'TimeoutError') throw new Failure(`${message} (waited ${timeout} ms)`);
    throw e;
  }
}

function watch(page, who) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${who} console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${who} uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? '';
    if (!failure.includes('ERR_ABORTED')) problems.push(`${who} request failed: ${req.url()} ${failure}`);
  });
}

function assertNoBrowserProblems() {
  const csp = problems.filter((p) => /Content Security Policy|Refused to/i.test(p));
  check(csp.length === 0, `the Content-Security-Policy blocked something:\n  ${csp.join('\n  ')}`);
  check(problems.length === 0, `the pages logged errors:\n  ${problems.join('\n  ')}`);
}

async function tabTo(page, what, matches, arg, max = 30) {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(matches, arg)) return;
  }
  throw new Failure(`could not reach ${what} with the Tab key`);
}

/** A link of the hub (whatever its public_url says) on the hub under test. */
function onHub(url) {
  const u = new URL(url);
  return `${BASE}${u.pathname}${u.search}${u.hash}`;
}

/**
 * What this page receives, per remote participant: decoded video frames and
 * received audio packets, read from RTCPeerConnection.getStats() of the
 * receivers whose tracks are on that participant's tile (the stream id is the
 * participant id).
 */
async function mediaIn(page) {
  return page.evaluate(async () => {
    const pc = window.__hbVisit?.pc;
    if (!pc) return {};
    const out = {};
    const receivers = pc.getReceivers();
    for (const li of document.querySelectorAll('#tiles li[data-participant]')) {
      const id = li.dataset.participant;
      if (id === 'self') continue;
      const stream = li.querySelector('video')?.srcObject;
      const entry = { name: li.querySelector('.tile-name')?.textContent ?? '', frames: 0, packets: 0, samples: 0 };
      for (const track of stream?.getTracks?.() ?? []) {
        const receiver = receivers.find((r) => r.track === track);
        if (!receiver) continue;
        const report = await receiver.getStats();
        report.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          if (s.kind === 'video') entry.frames += s.framesDecoded ?? 0;
          if (s.kind === 'audio') {
            entry.packets += s.packetsReceived ?? 0;
            entry.samples += s.totalSamplesReceived ?? 0;
          }
        });
      }
      out[id] = entry;
    }
    return out;
  });
}

/** Waits until `who` decodes video and receives audio from every participant in `from`. */
async function expectMedia(who, from) {
  step = `${who} receives media from ${from.map((f) => f.label).join(' and ')}`;
  const until = Date.now() + STEP_MS * 2;
  let last = {};
  while (Date.now() < until) {
    last = await mediaIn(pages[who]);
    if (from.every((f) => last[f.id]?.frames > 0 && (last[f.id]?.packets > 0 || last[f.id]?.samples > 0))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  for (const f of from) {
    const m = last[f.id];
    check(m, `${who} has no tile for ${f.label} (${f.id}); tiles: ${JSON.stringify(last)}`);
    check(m.frames > 0, `${who} decoded no video frame from ${f.label}: ${JSON.stringify(m)}`);
    check(m.packets > 0 || m.samples > 0, `${who} received no audio from ${f.label}: ${JSON.stringify(m)}`);
    if (f.name) check(m.name === f.name, `${who} labels ${f.label}'s tile "${m.name}", not "${f.name}"`);
  }
  ok(
    `${who} decodes video and receives audio from ${from
      .map((f) => `${f.label} (${last[f.id].frames} frames, ${last[f.id].packets} audio packets)`)
      .join(', ')}`,
  );
}

async function signInClinician() {
  const page = pages.clinician;
  step = 'the clinician signs in';
  await page.goto(`${BASE}/`, { waitUntil: 'load', timeout: STEP_MS });
  await page.getByLabel('Email').fill(CLINICIAN.email);
  await page.getByLabel('Password').fill(CLINICIAN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  try {
    await page.waitForURL('**/web/app.html**', { timeout: STEP_MS });
  } catch {
    const error = await page.locator('#login-error').textContent().catch(() => '');
    throw new Failure(`did not reach the console; the form says: ${error || '(nothing)'}`);
  }
  ok('the clinician signed in');

  step = 'the clinician opens the visit console from the navigation';
  await page.getByRole('link', { name: 'Video visits' }).click();
  await page.waitForURL('**/web/visits.html**', { timeout: STEP_MS });
  const resp = await page.request.get(`${BASE}/web/visits.html`);
  const policy = resp.headers()['permissions-policy'] ?? '';
  check(policy.includes('camera=(self)') && policy.includes('microphone=(self)'), `visits.html Permissions-Policy: ${policy}`);
  await waitIn(page, 'the live connection never opened', () => document.getElementById('conn-status')?.dataset.state === 'open');
  await waitIn(page, `visit ${VISIT} is not in the list`, (id) => !!document.querySelector(`#visits-list li[data-visit-id="${id}"]`), VISIT);
  const name = (await page.locator('#whoami-name').textContent()).trim();
  ok(`the visit console lists the visit (signed in as ${name})`);
  return name;
}

/** Opens a visit link, checks devices, joins with the keyboard; returns the participant id. */
async function joinFromLink(who, link, expectHost) {
  const page = pages[who];
  step = `${who} opens the visit link`;
  const resp = await page.goto(onHub(link), { waitUntil: 'load', timeout: STEP_MS });
  check(resp && resp.status() === 200, `GET /visit answered ${resp?.status()}`);
  const policy = resp.headers()['permissions-policy'] ?? '';
  check(policy.includes('camera=(self)') && policy.includes('microphone=(self)'), `visit page Permissions-Policy: ${policy}`);
  await waitIn(page, 'the device check never appeared', () => !document.getElementById('check')?.hidden);
  check(!page.url().includes('#t=') && !page.url().includes('t='), `the link token is still in the address bar: ${page.url()}`);
  ok(`${who} redeemed the link; the token left the address bar`);

  step = `${who} checks camera and microphone`;
  await waitIn(page, 'the camera preview shows no picture', () => {
    const v = document.getElementById('preview');
    return v && !v.hidden && v.videoWidth > 0 && v.readyState >= 2;
  });
  await waitIn(page, 'the join button never became usable', () => !document.getElementById('join').disabled);
  const problem = await page.locator('#device-problem').isVisible();
  check(!problem, `the device check reports a problem: ${await page.locator('#device-problem-text').textContent()}`);
  const cams = await page.locator('#camera-select option').count();
  const mics = await page.locator('#mic-select option').count();
  check(cams >= 1 && mics >= 1, `device lists: ${cams} cameras, ${mics} microphones`);
  // The fake microphone beeps: the level meter must move (the AudioContext may
  // wait for a first key press, so press one that does nothing here).
  await page.keyboard.press('Shift');
  await waitIn(page, 'the microphone level never moved', () => Number(document.getElementById('mic-level')?.value) > 0.02);
  ok(`${who} sees the camera preview and a moving microphone level (${cams} camera(s), ${mics} microphone(s))`);

  step = `${who} joins with the keyboard`;
  await page.locator('#check-title').focus();
  await tabTo(page, 'the Join button', () => document.activeElement?.id === 'join');
  await page.keyboard.press('Enter');
  await waitIn(page, 'the waiting room never appeared', () => !document.getElementById('waiting')?.hidden);
  const waitingText = await page.locator('#waiting-text').textContent();
  check(waitingText.includes(`${expectHost} will let you in shortly`), `the waiting room says "${waitingText}"`);
  const pid = await page.evaluate(() => window.__hbVisit.session.me.id);
  check(typeof pid === 'string' && pid.length > 0, 'no participant id on the page');
  ok(`${who} waits: "${waitingText}"`);
  return pid;
}

async function admit(who, pid, label) {
  const page = pages.clinician;
  step = `the clinician sees ${label} waiting`;
  await waitIn(
    page,
    `${label} never appeared in the visit list's queue`,
    ({ v, p }) => !!document.querySelector(`#visits-list li[data-visit-id="${v}"] .mini-queue li[data-participant="${p}"]`),
    { v: VISIT, p: pid },
  );
  ok(`the clinician's list shows ${label} waiting (live, without a reload)`);
  if (!(await page.evaluate((v) => location.hash === `#visit=${v}`, VISIT))) {
    await page.locator(`#visits-list a[data-visit-id="${VISIT}"]`).click();
  }
  await waitIn(page, `${label} is not in the open visit's waiting room`, (p) => !!document.querySelector(`#queue li[data-participant="${p}"]`), pid);
  step = `the clinician admits ${label}`;
  await page.locator(`#queue li[data-participant="${pid}"] button`, { hasText: 'Admit' }).click();
  await waitIn(page, `${label} did not leave the queue`, (p) => !document.querySelector(`#queue li[data-participant="${p}"]`), pid);
  ok(`the clinician admitted ${label}`);
}

async function expectInCall(who) {
  step = `${who} enters the call`;
  await waitIn(pages[who], `${who} never got connected`, () => window.__hbVisit?.phase === 'in_call' && window.__hbVisit.pc?.connectionState === 'connected', undefined, STEP_MS * 2);
  ok(`${who} is in the call (peer connection connected)`);
}

/** The patient's socket is cut; the page reconnects and the call comes back on a new connection. */
async function reconnectPatient(hostPid, hostName, patientPid, patientName) {
  step = "the patient's connection drops";
  const page = pages.patient;
  check(patientSocket.current, "the patient's socket was not routed through the test");
  await page.evaluate(() => {
    window.__hbVisit.pc.__old = true;
    window.__hbVisit.phases.length = 0;
  });
  const { ws, server } = patientSocket.current;
  patientSocket.current = null;
  await ws.close({ code: 1001, reason: 'network drop (test)' });
  await server.close().catch(() => {});
  await waitIn(page, 'the patient page never showed "Reconnecting…"', () => window.__hbVisit.phases.includes('reconnecting'));
  await waitIn(
    page,
    'the patient never got back into the call on a new connection',
    () => window.__hbVisit.phase === 'in_call' && window.__hbVisit.pc && !window.__hbVisit.pc.__old && window.__hbVisit.pc.connectionState === 'connected',
    undefined,
    STEP_MS * 2,
  );
  check(patientSocket.connections === 2, `expected 2 socket connections, saw ${patientSocket.connections}`);
  const phases = await page.evaluate(() => window.__hbVisit.phases.join(' → '));
  ok(`the patient reconnected after a network drop (${phases})`);
  await expectMedia('patient', [{ id: hostPid, label: 'the clinician', name: hostName }]);
  await expectMedia('clinician', [{ id: patientPid, label: 'the patient', name: patientName }]);
}

/** Mute and camera off reach the others (visit_media); a screen share replaces the camera. */
async function mediaState(patientPid, hostPid) {
  step = 'the patient mutes and turns the camera off';
  const patient = pages.patient;
  const clinician = pages.clinician;
  await patient.getByRole('button', { name: 'Mute' }).click();
  await patient.getByRole('button', { name: 'Turn camera off' }).click();
  check((await patient.locator('#toggle-mic').getAttribute('aria-pressed')) === 'true', 'the mute button is not pressed');
  await waitIn(clinician, "the clinician's tile of the patient does not show the microphone off", (p) => (document.querySelector(`#tiles li[data-participant="${p}"] .tile-flags`)?.textContent ?? '').includes('Microphone off'), patientPid);
  await waitIn(clinician, "the clinician's tile of the patient does not show the camera off", (p) => document.querySelector(`#tiles li[data-participant="${p}"]`)?.classList.contains('no-video'), patientPid);
  await patient.getByRole('button', { name: 'Unmute' }).click();
  await patient.getByRole('button', { name: 'Turn camera on' }).click();
  await waitIn(clinician, "the clinician's tile of the patient still shows them muted", (p) => {
    const li = document.querySelector(`#tiles li[data-participant="${p}"]`);
    return li && !li.classList.contains('no-video') && !(li.querySelector('.tile-flags')?.textContent ?? '').includes('off');
  }, patientPid);
  ok('mute and camera off show on the clinician\'s tile of the patient, and go again when turned back on');

  step = 'the clinician shares a screen';
  await clinician.getByRole('button', { name: 'Share screen' }).click();
  let sharing = false;
  try {
    await clinician.waitForFunction(() => document.getElementById('toggle-share')?.getAttribute('aria-pressed') === 'true', undefined, { timeout: 5000, polling: 200 });
    sharing = true;
  } catch {
    /* this Chromium cannot capture a screen here */
  }
  if (!sharing) {
    console.log('# skip: this Chromium could not capture a screen (getDisplayMedia refused)');
    return;
  }
  await waitIn(patient, "the patient's tile of the clinician does not say the screen is shared", (p) => (document.querySelector(`#tiles li[data-participant="${p}"] .tile-flags`)?.textContent ?? '').includes('Sharing screen'), hostPid);
  const senders = await clinician.evaluate(() => window.__hbVisit.pc.getSenders().filter((s) => s.track?.kind === 'video').map((s) => s.track.label));
  await clinician.getByRole('button', { name: 'Stop sharing' }).click();
  await waitIn(patient, "the patient's tile of the clinician still says the screen is shared", (p) => !(document.querySelector(`#tiles li[data-participant="${p}"] .tile-flags`)?.textContent ?? '').includes('Sharing screen'), hostPid);
  const back = await clinician.evaluate(() => window.__hbVisit.pc.getSenders().filter((s) => s.track?.kind === 'video').map((s) => s.track.label));
  check(JSON.stringify(back) !== JSON.stringify(senders), `the video sender still carries ${back}`);
  ok(`the clinician shared a screen on the same sender (${senders} → ${back}) and the patient saw it`);
}

/** The patient's WebSocket goes through the test, so it can be cut. */
const patientSocket = { current: null, connections: 0 };

async function main() {
  step = 'launch Chromium';
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
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
  for (const who of ['clinician', 'patient', 'interpreter']) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    if (who === 'patient') {
      await context.routeWebSocket(/\/ws$/, (ws) => {
        patientSocket.connections += 1;
        patientSocket.current = { ws, server: ws.connectToServer() };
      });
    }
    pages[who] = await context.newPage();
    watch(pages[who], who);
  }

  const hostName = await signInClinician();
  await pages.clinician.locator(`#visits-list a[data-visit-id="${VISIT}"]`).click();
  await waitIn(pages.clinician, 'the visit never opened', () => !document.getElementById('visit-view')?.hidden && window.__hbVisit?.session?.me?.id);
  const hostPid = await pages.clinician.evaluate(() => window.__hbVisit.session.me.id);
  ok(`the clinician opened the visit (${await pages.clinician.locator('#visit-phase').textContent()})`);

  const patientPid = await joinFromLink('patient', PATIENT_LINK, hostName);
  await admit('patient', patientPid, 'the patient');
  await expectInCall('patient');
  await expectInCall('clinician');
  const patientName = PATIENT_NAME || (await pages.patient.evaluate(() => window.__hbVisit.session.nameOf(window.__hbVisit.session.me.id)));
  await expectMedia('patient', [{ id: hostPid, label: 'the clinician', name: hostName }]);
  await expectMedia('clinician', [{ id: patientPid, label: 'the patient', name: patientName }]);
  await reconnectPatient(hostPid, hostName, patientPid, patientName);
  await mediaState(patientPid, hostPid);

  step = 'the clinician invites an interpreter';
  const page = pages.clinician;
  await page.getByLabel("Interpreter's name").fill(INTERPRETER_NAME);
  await page.getByRole('button', { name: 'Create invitation link' }).click();
  await waitIn(page, 'no invitation link was shown', () => /\/visit#t=/.test(document.getElementById('invite-link')?.value ?? ''));
  const inviteLink = await page.locator('#invite-link').inputValue();
  ok('the console shows the interpreter\'s link');

  const interpreterPid = await joinFromLink('interpreter', inviteLink, hostName);
  await admit('interpreter', interpreterPid, 'the interpreter');
  await expectInCall('interpreter');
  const host = { id: hostPid, label: 'the clinician', name: hostName };
  const patient = { id: patientPid, label: 'the patient', name: patientName };
  const interpreter = { id: interpreterPid, label: 'the interpreter', name: INTERPRETER_NAME };
  await expectMedia('interpreter', [host, patient]);
  await expectMedia('patient', [host, interpreter]);
  await expectMedia('clinician', [patient, interpreter]);
  step = 'the console shows connection quality';
  await waitIn(
    pages.clinician,
    'no quality indicator from visit_stats for the patient and the interpreter',
    (ids) => ids.every((id) => ['good', 'fair', 'poor'].includes(document.querySelector(`#participants li[data-participant="${id}"]`)?.dataset.quality)),
    [patientPid, interpreterPid],
  );
  const qualities = await pages.clinician.evaluate((ids) => ids.map((id) => document.querySelector(`#participants li[data-participant="${id}"]`).dataset.quality), [patientPid, interpreterPid]);
  ok(`the console shows each participant's connection quality from visit_stats (${qualities.join(', ')})`);
  if (process.env.HB_SCREENSHOTS_DIR) {
    mkdirSync(process.env.HB_SCREENSHOTS_DIR, { recursive: true });
    for (const [who, p] of Object.entries(pages)) {
      await p.screenshot({ path: join(process.env.HB_SCREENSHOTS_DIR, `call-${who}.png`), fullPage: true });
    }
  }

  step = 'the patient leaves';
  await pages.patient.getByRole('button', { name: 'Leave the visit' }).click();
  await waitIn(pages.patient, 'the patient page does not say they left', () => document.getElementById('done-title')?.textContent === 'You left the visit');
  await waitIn(
    pages.clinician,
    'the clinician page does not show the patient as left',
    (p) => document.querySelector(`#participants li[data-participant="${p}"]`)?.dataset.state === 'left',
    patientPid,
  );
  await waitIn(pages.clinician, "the patient's tile stayed on the clinician's page", (p) => !document.querySelector(`#tiles li[data-participant="${p}"]`), patientPid);
  await waitIn(pages.interpreter, "the patient's tile stayed on the interpreter's page", (p) => !document.querySelector(`#tiles li[data-participant="${p}"]`), patientPid);
  const announced = await pages.clinician.locator('#announcer').textContent();
  check(announced.includes(`${patientName} left the visit`), `the clinician's page did not announce the leave: "${announced}"`);
  ok('the patient left; the clinician\'s page shows "Left" and announced it; their tiles are gone');

  step = 'the clinician ends the visit';
  const end = pages.clinician.locator('#visit-end');
  await end.click();
  await end.click();
  await waitIn(pages.interpreter, 'the interpreter was not told the visit ended', () => document.getElementById('done-title')?.textContent === 'This visit has ended');
  await waitIn(pages.clinician, 'the console does not show the visit as ended', () => document.getElementById('visit-meta')?.dataset.state === 'ended');
  ok('the clinician ended the visit; the interpreter sees "This visit has ended"');

  step = 'browser console';
  assertNoBrowserProblems();
  ok('no console errors, failed requests or CSP violations');

  clearTimeout(deadline);
  await browser.close();
  console.log(`${passed} passed, 0 failed`);
}

main().catch(fail);
