#!/usr/bin/env node
// End to end in Chromium (fake camera and microphone): a patient on a phone-sized
// screen (375 × 812) and a clinician on a desktop, in two browser contexts.
//
//   1. the patient signs up, confirms the address from the mail the SMTP server got,
//      enrols TOTP (lib/patient-signup.mjs computes the codes), is invited by the
//      clinic and accepts from the mailed link, signs out and in with a fresh code,
//      and lands in the patient portal, "Patient portal" in the bar, no console;
//   2. books the provider's first free video slot: the confirmation shows on the page,
//      "Appointment confirmed" arrives live in the notification inbox and by mail;
//   3. the upcoming appointment says "Opens at 10:30 (in N minutes)" until the visit
//      opens, then offers "Join video visit"; the visit page opens in account mode
//      (no link), with no host controls; the patient joins and waits;
//   4. the clinician, signed in from the second context, admits the patient from the
//      visits console; both decode each other's video and receive audio
//      (RTCPeerConnection.getStats), on tiles named after each other;
//   5. the patient writes to the clinic's care team from the portal's Messages; the
//      clinician answers from the console and the answer appears on the patient's
//      phone live, the composer on screen without scrolling past the thread list;
//   6. the patient books again, moves the appointment (with a reason) and cancels it
//      (a confirmation dialog that wants a reason);
//   7. axe-core finds nothing on every portal panel at 375 px and at 1280 px.
//
// Environment: HUB_URL, HB_PATIENT_EMAIL, HB_PATIENT_PASSWORD, HB_PATIENT_NAME,
// HB_MAIL_FILE (the SMTP sink's log) with HB_ORG_ID and HB_ORG_ADMIN_TOKEN (the clinic
// invites the new patient); without HB_MAIL_FILE the patient account must exist
// (HB_PATIENT_TOTP_SECRET, optional, base32: sign in with a computed code);
// HB_CLINICIAN_EMAIL, HB_CLINICIAN_PASSWORD, HB_CLINICIAN_NAME, HB_ORG_NAME;
// optional CHROMIUM_PATH, HB_ARTIFACTS_DIR, HB_SCREENSHOTS_DIR (screenshots of every panel), HB_STEP_TIMEOUT_MS (default 20000),
// HB_OPEN_TIMEOUT_MS (how long the visit may take to open; default 180000).

import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Run, check, env, expectAccessible, signIn } from './lib/harness.mjs';

const run = new Run('portal');
const STEP = Number(env('HB_STEP_TIMEOUT_MS', '20000'));
const OPEN_MS = Number(env('HB_OPEN_TIMEOUT_MS', '180000'));
const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1280, height: 900 };
const ORG = env('HB_ORG_NAME');
const PATIENT = { email: env('HB_PATIENT_EMAIL'), password: env('HB_PATIENT_PASSWORD'), name: env('HB_PATIENT_NAME') };
const CLINICIAN = { email: env('HB_CLINICIAN_EMAIL'), password: env('HB_CLINICIAN_PASSWORD'), name: env('HB_CLINICIAN_NAME') };
const TOTP_SECRET = process.env.HB_PATIENT_TOTP_SECRET || '';
/** The SMTP test server's log: when set, the patient signs up in the browser. */
const MAIL_FILE = process.env.HB_MAIL_FILE || '';
/** Optional: where to save a screenshot of every portal panel at both sizes. */
const SHOTS = process.env.HB_SCREENSHOTS_DIR || '';
if (SHOTS) mkdirSync(SHOTS, { recursive: true });

/** RFC 6238 code (SHA-1, 30 s, 6 digits) for a base32 secret. */
function totpCode(secret, now = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

async function waitIn(page, message, fn, arg, timeout = STEP) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 200 });
  } catch (e) {
    if (e?.name === 'TimeoutError') check(false, `${message} (waited ${timeout} ms)`);
    throw e;
  }
}

/** Decoded video frames and received audio per remote tile of a visit page (as visit.mjs reads them). */
function mediaIn(page) {
  return page.evaluate(async () => {
    const pc = window.__hbVisit?.pc;
    if (!pc) return {};
    const out = {};
    const receivers = pc.getReceivers();
    for (const li of document.querySelectorAll('#tiles li[data-participant]')) {
      if (li.dataset.participant === 'self') continue;
      const entry = { name: li.querySelector('.tile-name')?.textContent ?? '', frames: 0, audio: 0 };
      for (const track of li.querySelector('video')?.srcObject?.getTracks?.() ?? []) {
        const receiver = receivers.find((r) => r.track === track);
        (await receiver?.getStats())?.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          if (s.kind === 'video') entry.frames += s.framesDecoded ?? 0;
          if (s.kind === 'audio') entry.audio += s.packetsReceived ?? 0;
        });
      }
      out[li.dataset.participant] = entry;
    }
    return out;
  });
}

async function expectMedia(page, who, fromName) {
  const until = Date.now() + STEP * 2;
  let last = {};
  while (Date.now() < until) {
    last = await mediaIn(page);
    const tiles = Object.values(last);
    if (tiles.length && tiles.every((t) => t.frames > 0 && t.audio > 0)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const tiles = Object.values(last);
  check(tiles.length === 1, `${who} sees ${tiles.length} remote tiles: ${JSON.stringify(last)}`);
  check(tiles[0].frames > 0 && tiles[0].audio > 0, `${who} gets no media: ${JSON.stringify(last)}`);
  check(tiles[0].name === fromName, `${who} labels the other tile "${tiles[0].name}", not "${fromName}"`);
  run.ok(`${who} decodes video (${tiles[0].frames} frames) and receives audio from ${fromName}`);
}

/** Every portal panel, scanned by axe-core at the page's current size. */
async function scanPanels(page, size) {
  for (const panel of ['appointments', 'book', 'messages', 'notifications']) {
    await page.locator(`#tab-${panel}`).click();
    await waitIn(page, `the ${panel} panel did not show`, (p) => !document.getElementById(p).hidden, panel);
    await expectAccessible(page, `portal ${panel} at ${size}`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `portal-${panel}-${size.replace(' ', '')}.png`), fullPage: true });
  }
  run.ok(`axe-core: no violation on the four portal panels at ${size}`);
}

/**
 * The patient's way in. With `HB_MAIL_FILE` (the SMTP test server's log) the patient
 * is new: signs up, confirms the address from the mail, enrols TOTP
 * (tests/browser/lib/patient-signup.mjs), is invited by the clinic (the org admin's
 * `HB_ORG_ADMIN_TOKEN`, over the API), accepts from the mailed link, signs out and
 * signs in again with a computed code. Without it the account exists already.
 */
async function signInPatient(page) {
  if (!MAIL_FILE) {
    await signIn(page, run.base, {
      email: PATIENT.email,
      password: PATIENT.password,
      code: TOTP_SECRET ? async () => totpCode(TOTP_SECRET) : undefined,
    });
    return;
  }
  const lib = await import('./lib/patient-signup.mjs');
  const signed = await lib.signUpPatient({
    page,
    hubUrl: run.base,
    mailFile: MAIL_FILE,
    email: PATIENT.email,
    password: PATIENT.password,
    name: PATIENT.name,
    stepMs: STEP,
  });
  run.ok('the patient signed up, confirmed the email from the mail and turned on TOTP');

  run.begin('the clinic invites the patient, who accepts from the mailed link');
  const invited = await fetch(`${run.base}/api/v1/orgs/${env('HB_ORG_ID')}/members`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env('HB_ORG_ADMIN_TOKEN')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email: PATIENT.email, role: 'patient' }),
  });
  check(invited.status === 202, `inviting the patient answered ${invited.status}`);
  const link = await lib.mailedLink(MAIL_FILE, { to: PATIENT.email, path: '/invite', timeoutMs: STEP });
  await page.goto(lib.onHub(run.base, link));
  await page.locator('#accept-here').click();
  await waitIn(page, 'accepting the invitation did not finish', () => !document.getElementById('done')?.hidden);
  run.ok('the patient accepted the clinic\'s invitation from the mail');

  run.begin('the patient signs out and in again with a TOTP code');
  await page.goto(`${run.base}/web/portal.html`);
  await page.locator('#logout').click();
  await page.waitForURL((url) => url.pathname === '/', { timeout: STEP });
  const from = run.problems.length;
  const { code } = await lib.freshTotpCode(signed.totpSecret, signed.totpStep);
  await signIn(page, run.base, { email: PATIENT.email, password: PATIENT.password, code: async () => code });
  // The password alone answers 401 `mfa_required` (how the form learns to ask for
  // the code), and the signed-out page's refresh answers 401: Chromium logs both.
  const kept = run.problems.slice(from).filter((p) => !/console: Failed to load resource: .*status of 401/.test(p));
  run.problems.splice(from, run.problems.length - from, ...kept);
}

/** Waits for the confirmation mail of the booking (its subject) to reach the patient. */
async function confirmationMail() {
  const until = Date.now() + STEP;
  while (Date.now() < until) {
    const text = await readFile(MAIL_FILE, 'utf8').catch(() => '');
    const found = text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return null;
        }
      })
      .some((m) => m?.rcpt_tos?.includes(PATIENT.email) && /^Subject: Appointment confirmed/m.test(m.data));
    if (found) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  check(false, `no "Appointment confirmed" mail reached ${PATIENT.email}`);
}

run.main(async () => {
  run.begin('launch Chromium');
  await run.launch(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
  const patientContext = await run.context({ viewport: PHONE, isMobile: true, hasTouch: true });
  const clinicianContext = await run.context({ viewport: DESKTOP });
  const patient = run.watch(await patientContext.newPage(), 'patient');
  const clinician = run.watch(await clinicianContext.newPage(), 'clinician');

  run.begin('the patient signs in and lands in the portal');
  await signInPatient(patient);
  await patient.waitForURL('**/web/portal.html**', { timeout: STEP });
  await waitIn(patient, 'the portal never finished loading', () => window.__hbPortal?.ready === true);
  const bar = await patient.locator('#shell-bar').textContent();
  check(bar.includes('Patient portal') && !bar.includes('Clinician console'), `the bar says: ${bar}`);
  await waitIn(patient, 'the live connection never opened', () => document.getElementById('conn-status')?.dataset.state === 'open');
  run.ok(`the patient${TOTP_SECRET || MAIL_FILE ? ' (with a TOTP code)' : ''} is in the portal, titled for a patient`);
  await expectAccessible(patient, 'portal, no appointments, 375 px');

  run.begin('the patient books the first free video slot');
  await patient.locator('#tab-book').click();
  const type = await patient.locator('#book-type option:checked').textContent();
  check(type.includes('video'), `the type offered first is "${type}"`);
  await patient.getByRole('button', { name: 'Find free times' }).click();
  await waitIn(patient, 'no free times were listed', () => document.querySelectorAll('#slots input[name="slot"]').length > 0);
  await expectAccessible(patient, 'portal, free times, 375 px');
  const slot = await patient.locator('#slots input[name="slot"]:checked').inputValue();
  await patient.getByRole('button', { name: 'Book this time' }).click();
  await waitIn(patient, 'the booking was not confirmed on the page', () => !document.getElementById('book-done').hidden);
  const done = await patient.locator('#book-done').textContent();
  check(done.includes('Booked:') && done.includes(CLINICIAN.name), `the page says: ${done}`);
  run.ok(`the patient booked ${slot}: "${done}"`);

  run.begin('the confirmation arrives live in the inbox');
  await waitIn(
    patient,
    'no "Appointment confirmed" in the inbox',
    () => [...document.querySelectorAll('#inbox .inbox-title')].some((t) => t.textContent === 'Appointment confirmed'),
  );
  const inboxText = await patient.locator('#inbox').textContent();
  check(!/appointment\.\w|\b1[0-9]{12}\b/.test(inboxText), `raw event names or epoch numbers in the inbox: ${inboxText}`);
  check(inboxText.includes(ORG), `the notice does not name the clinic: ${inboxText}`);
  run.ok('"Appointment confirmed" arrived in the inbox without a reload, in words');
  if (MAIL_FILE) {
    await confirmationMail();
    run.ok('the confirmation mail reached the patient');
  }

  run.begin('the appointment waits for its visit to open');
  await patient.locator('#tab-appointments').click();
  await waitIn(patient, 'the appointment is not listed as upcoming', () => document.querySelectorAll('#upcoming li').length === 1);
  const door = (await patient.locator('#upcoming .visit-door').textContent().catch(() => '')) || '';
  if (door) {
    check(/^Opens at \d{1,2}:\d{2}( [AP]M)? \(in \d+ minutes?\)$/.test(door), `the appointment says "${door}"`);
    run.ok(`before it opens the appointment says "${door}"`);
  }
  await expectAccessible(patient, 'portal, upcoming appointment, 375 px');
  await waitIn(patient, 'the visit never opened', () => !!document.querySelector('#upcoming a.join-visit'), undefined, OPEN_MS);
  run.ok('at visit time the appointment offers "Join video visit"');

  run.begin("the clinicians' visit console is not the patient's");
  await patient.goto(`${run.base}/web/visits.html`);
  await patient.getByRole('heading', { name: 'This page is not available to your account' }).waitFor({ timeout: STEP });
  check((await patient.locator('button', { hasText: /Admit|Start the visit/ }).count()) === 0, 'host controls shown to the patient');
  await patient.getByRole('link', { name: 'Go to your home page' }).click();
  await patient.waitForURL('**/web/portal.html**', { timeout: STEP });
  await waitIn(patient, 'the portal never finished loading', () => window.__hbPortal?.ready === true);
  run.ok('the visits console is refused to the patient (no host controls) and leads back to the portal');

  run.begin('the patient opens the visit from the portal (account mode) and joins');
  await patient.locator('#upcoming a.join-visit').click();
  await patient.waitForURL('**/web/visit.html?id=**', { timeout: STEP });
  const visitId = new URL(patient.url()).searchParams.get('id');
  await waitIn(patient, 'the device check never appeared', () => !document.getElementById('check')?.hidden);
  check((await patient.locator('button', { hasText: /Admit|Start the visit|End the visit/ }).count()) === 0, 'host controls on the patient page');
  await waitIn(patient, 'Join never became usable', () => !document.getElementById('join').disabled);
  await expectAccessible(patient, 'visit device check, 375 px');
  await patient.locator('#join').click();
  await waitIn(patient, 'the waiting room never appeared', () => !document.getElementById('waiting')?.hidden);
  const waiting = await patient.locator('#waiting-text').textContent();
  check(waiting.includes(`${CLINICIAN.name} will let you in shortly`), `the waiting room says "${waiting}"`);
  run.ok(`the patient waits, signed in, without a link: "${waiting}"`);

  run.begin('the clinician admits the patient from the visits console');
  await signIn(clinician, run.base, CLINICIAN);
  await clinician.goto(`${run.base}/web/visits.html#visit=${visitId}`);
  await waitIn(clinician, 'the visit never opened in the console', () => !document.getElementById('visit-view')?.hidden && window.__hbVisit?.session?.me?.id);
  const patientPid = await patient.evaluate(() => window.__hbVisit.session.me.id);
  await waitIn(clinician, 'the patient is not in the waiting room', (p) => !!document.querySelector(`#queue li[data-participant="${p}"]`), patientPid);
  await clinician.locator(`#queue li[data-participant="${patientPid}"] button`, { hasText: 'Admit' }).click();
  await waitIn(patient, 'the patient never got into the call', () => window.__hbVisit?.phase === 'in_call' && window.__hbVisit.pc?.connectionState === 'connected', undefined, STEP * 2);
  run.ok('the clinician admitted the patient; the patient is in the call');
  await expectMedia(patient, 'the patient', CLINICIAN.name);
  await expectMedia(clinician, 'the clinician', PATIENT.name);
  const covered = await patient.evaluate(() => {
    const tile = document.querySelector('#tiles li:not(.self)');
    const name = tile.querySelector('.tile-name').getBoundingClientRect();
    return [...tile.querySelectorAll('.tile-flags, .tile-quality, .tile-unmute')]
      .filter((e) => !e.hidden && e.getClientRects().length)
      .map((e) => e.getBoundingClientRect())
      .some((r) => r.left < name.right && r.right > name.left && r.top < name.bottom && r.bottom > name.top);
  });
  check(!covered, "a label covers the participant's name on the patient's tile");
  run.ok("no label covers the participant's name");

  run.begin('the clinician ends the visit; nothing offers Join any more');
  const end = clinician.locator('#visit-end');
  await end.click();
  await end.click();
  await waitIn(patient, 'the patient was not told the visit ended', () => document.getElementById('done-title')?.textContent === 'This visit has ended');
  check(await patient.locator('#rejoin').isHidden(), '"Join again" is offered after the end');
  await patient.reload();
  await waitIn(patient, 'the reopened visit page does not say it ended', () => document.getElementById('done-title')?.textContent === 'This visit has ended' && !document.getElementById('done').hidden);
  check(await patient.locator('#join').isHidden(), 'the reopened visit page offers Join after the end');
  await patient.goto(`${run.base}/web/portal.html#appointments`);
  await waitIn(patient, 'the portal never finished loading', () => window.__hbPortal?.ready === true);
  const after = await patient.locator('#appointments').textContent();
  check(after.includes('This visit has ended') && (await patient.locator('a.join-visit').count()) === 0, `the portal after the visit: ${after}`);
  run.ok('after the end: "This visit has ended" on the visit page (also reopened) and in the portal, no Join anywhere');

  run.begin('the patient writes to the care team from the portal');
  await patient.goto(`${run.base}/web/portal.html#messages`);
  await waitIn(patient, 'the portal never finished loading', () => window.__hbPortal?.ready === true);
  await patient.getByRole('button', { name: 'Start', exact: true }).click();
  await waitIn(patient, 'the new thread did not open', () => !document.getElementById('thread-pane').hidden && !!window.__hbPortal.threads.current);
  const roomId = await patient.evaluate(() => window.__hbPortal.threads.current.id);
  await patient.locator('#message-input').fill('Hello, is my prescription ready?');
  await patient.locator('#send').click();
  await waitIn(patient, 'the message is not shown as sent', () => [...document.querySelectorAll('#thread-messages .msg.mine')].some((m) => m.textContent.includes('prescription')));
  const composer = await patient.locator('#message-input').boundingBox();
  check(composer && composer.y + composer.height <= PHONE.height, `the composer is off screen at 375 px: ${JSON.stringify(composer)}`);
  run.ok('the patient started a thread with the clinic and sent a message; the composer is on screen at 375 px');
  await expectAccessible(patient, 'portal, open thread, 375 px');

  run.begin('the clinician answers from the console; the patient sees it live');
  await clinician.goto(`${run.base}/web/app.html#room=${roomId}`);
  await waitIn(clinician, "the patient's message is not in the clinician's room", () => document.getElementById('messages')?.textContent.includes('prescription'));
  await clinician.locator('#message-input').fill('Yes, it is ready for pick-up.');
  await clinician.locator('#send').click();
  await waitIn(patient, 'the answer never reached the patient', () => document.getElementById('thread-messages').textContent.includes('ready for pick-up'));
  const sender = await patient.locator('#thread-messages .msg:not(.mine) .msg-sender').last().textContent();
  check(sender === CLINICIAN.name, `the answer is signed "${sender}"`);
  run.ok(`the clinician's answer appeared on the patient's phone live, from ${sender}`);
  await patient.locator('#tab-appointments').click();
  await clinician.locator('#message-input').fill('Please bring your insurance card.');
  await clinician.locator('#send').click();
  await waitIn(patient, 'the Messages tab counts no unread message', () => document.getElementById('messages-unread').textContent === '1' && !document.getElementById('messages-unread').hidden);
  await patient.locator('#tab-messages').click();
  await waitIn(patient, 'reading the thread left it unread', () => document.getElementById('messages-unread').hidden && document.getElementById('thread-messages').textContent.includes('insurance card'));
  run.ok('a message that arrives on another panel counts as unread on the Messages tab until read');

  run.begin('the patient books again, moves the appointment, then cancels it');
  await patient.locator('#tab-book').click();
  await patient.getByRole('button', { name: 'Find free times' }).click();
  await waitIn(patient, 'no later free times were listed', () => document.querySelectorAll('#slots input[name="slot"]').length >= 2);
  const first = await patient.locator('#slots input[name="slot"]').nth(0).inputValue();
  const second = await patient.locator('#slots input[name="slot"]').nth(1).inputValue();
  await patient.getByRole('button', { name: 'Book this time' }).click();
  await waitIn(patient, 'the second booking was not confirmed', () => !document.getElementById('book-done').hidden);
  await patient.locator('#tab-appointments').click();
  const item = () => patient.locator('#upcoming li.appointment').filter({ hasText: 'Video consultation' }).last();
  await waitIn(patient, 'the new appointment is not listed', () => document.querySelectorAll('#upcoming li.appointment').length >= 1);
  await item().getByRole('button', { name: /^Reschedule/ }).click();
  await waitIn(patient, 'the reschedule form did not open', () => document.getElementById('book-title').textContent.startsWith('Reschedule'));
  await waitIn(patient, 'no free times to move to', () => document.querySelectorAll('#slots input[name="slot"]').length >= 1);
  await patient.locator(`#slots input[value="${second}"]`).check();
  await patient.locator('#book-reason').fill('A clash at work');
  await patient.getByRole('button', { name: 'Move to this time' }).click();
  await waitIn(patient, 'the move was not confirmed', () => document.getElementById('book-done').textContent.startsWith('Moved:'));
  run.ok(`the patient booked ${first} and moved it to ${second}`);
  await patient.locator('#tab-appointments').click();
  await waitIn(
    patient,
    'the moved appointment is not listed at its new time',
    (at) => [...document.querySelectorAll('#upcoming li.appointment')].length >= 1 && window.__hbPortal.appointments.list.some((a) => a.starts_at.startsWith(at.slice(0, 16)) && a.status === 'booked'),
    second,
  );
  await item().getByRole('button', { name: /^Cancel/ }).click();
  await waitIn(patient, 'no confirmation was asked', () => document.getElementById('cancel-dialog').open);
  await expectAccessible(patient, 'cancel confirmation, 375 px');
  await patient.locator('#cancel-confirm').click();
  await waitIn(patient, 'an empty reason was accepted', () => !document.getElementById('cancel-error').hidden);
  await patient.locator('#cancel-reason').fill('Feeling better');
  await patient.locator('#cancel-confirm').click();
  await waitIn(patient, 'the appointment was not cancelled', () => !document.getElementById('cancel-dialog').open && !window.__hbPortal.appointments.list.some((a) => a.status === 'booked' && a.visit_state !== 'ended'));
  run.ok('the move is listed; cancelling asks for a confirmation and a reason, then the appointment is cancelled');

  run.begin('every portal panel is accessible on a phone and on a desktop');
  await patient.locator('#past-details summary').click();
  await scanPanels(patient, '375 px');
  await patient.setViewportSize(DESKTOP);
  await scanPanels(patient, '1280 px');
  run.noProblems();
  run.ok('no console error, failed request or CSP violation');
});
