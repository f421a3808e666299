// A patient's first steps, in the browser, for any end-to-end test that needs
// a real patient: sign up on /signup, confirm the address from the email the
// hub really sent (read from the SMTP test server's log), sign in, and turn on
// two-step sign-in on the account page with the QR code's key. Also: RFC 6238
// codes computed here with node:crypto (independent of the hub's TOTP code),
// and the mailed link reader.
//
//   import { signUpPatient, totpCode, freshTotpCode, mailedLink } from './lib/patient-signup.mjs';
//   const patient = await signUpPatient({ context, hubUrl, mailFile, email, password, name });
//   // → { email, password, name, totpSecret, totpStep, recoveryCodes, page }
//
// `mailFile` is the JSON-lines log of `tests/support/smtp_sink.py` (one
// `{rcpt_tos, data}` object a line; `SmtpSink::log_file()` on the Rust side).
// `page` (optional) is used instead of a new page of `context`; the returned
// page is signed in, on the account page. Throws an Error that says which step
// did not happen.

import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The 30-second step number at `atMs`. */
export function totpStep(atMs = Date.now()) {
  return Math.floor(atMs / 1000 / 30);
}

/** The 6-digit RFC 6238 code (SHA-1, 30 s) of a base32 secret at `atMs`. */
export function totpCode(secret, atMs = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(totpStep(atMs)));
  const digest = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const value = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(value % 1_000_000).padStart(6, '0');
}

/**
 * A code from a step after `usedStep` (the hub refuses a code of a step it has
 * already accepted: replay). Waits for the next step when needed (≤ 30 s).
 * Returns `{code, step}`.
 */
export async function freshTotpCode(secret, usedStep = -1) {
  while (totpStep() <= usedStep) await new Promise((r) => setTimeout(r, 250));
  const step = totpStep();
  return { code: totpCode(secret, step * 30_000), step };
}

/** Undoes quoted-printable soft breaks and `=3D`, as mail bodies carry links. */
function unfold(data) {
  return data.replace(/=\r?\n/g, '').replace(/=3D/gi, '=');
}

/**
 * The first link in mail to `to` whose path is `path` (for example
 * `/signup`), with its fragment, waiting up to `timeoutMs` for it to arrive.
 */
export async function mailedLink(mailFile, { to, path, timeoutMs = 15_000 }) {
  const until = Date.now() + timeoutMs;
  const pattern = new RegExp(`https?://[^\\s"<>]+${path.replace(/[/.]/g, '\\$&')}#[A-Za-z0-9_=&-]+`);
  for (;;) {
    const text = await readFile(mailFile, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let mail;
      try {
        mail = JSON.parse(line);
      } catch {
        continue; // being written
      }
      if (!mail.rcpt_tos?.some((r) => r.toLowerCase() === to.toLowerCase())) continue;
      const found = unfold(mail.data).match(pattern);
      if (found) return found[0];
    }
    if (Date.now() > until) throw new Error(`no mail to ${to} with a ${path} link within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `link` on `hubUrl`: only its path and fragment are used (public_url may name another host). */
export function onHub(hubUrl, link) {
  const u = new URL(link);
  return `${hubUrl.replace(/\/+$/, '')}${u.pathname}${u.hash}`;
}

async function visible(page, selector, what, timeout) {
  try {
    await page.waitForSelector(selector, { state: 'visible', timeout });
  } catch {
    throw new Error(`${what} (waited ${timeout} ms for ${selector})`);
  }
}

/** Signs in on the sign-in page; `code` when the account has two-step sign-in. */
export async function signIn(page, { hubUrl, email, password, code, stepMs = 15_000 }) {
  await page.goto(`${hubUrl}/`, { waitUntil: 'load', timeout: stepMs });
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login-submit');
  if (code !== undefined) {
    await visible(page, '#code-field', 'the one-time code field did not appear', stepMs);
    await page.fill('#code', code);
    await page.click('#login-submit');
  }
  await page.waitForURL((url) => url.pathname !== '/', { timeout: stepMs }).catch(() => {
    throw new Error('signing in did not leave the sign-in page');
  });
}

export async function signUpPatient({
  context,
  page,
  hubUrl,
  mailFile,
  email,
  password,
  name,
  stepMs = 15_000,
}) {
  const base = hubUrl.replace(/\/+$/, '');
  page = page ?? (await context.newPage());

  // Sign up.
  await page.goto(`${base}/signup`, { waitUntil: 'load', timeout: stepMs });
  await page.fill('#name', name);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#signup-submit');
  await visible(page, '#check-email', 'signing up did not end on "Check your email"', stepMs);

  // Confirm the address from the real mail.
  const link = await mailedLink(mailFile, { to: email, path: '/signup', timeoutMs: stepMs });
  await page.goto('about:blank');
  await page.goto(onHub(base, link), { waitUntil: 'load', timeout: stepMs });
  await page.waitForFunction(
    () => document.getElementById('verify-title')?.textContent === 'Your email address is confirmed',
    null,
    { timeout: stepMs },
  ).catch(() => {
    throw new Error('the verification link did not confirm the address');
  });
  if (page.url().includes('#')) throw new Error(`the token stayed in the address bar: ${page.url()}`);

  // Sign in and turn on two-step sign-in on the account page.
  await signIn(page, { hubUrl: base, email, password, stepMs });
  await page.goto(`${base}/web/settings.html#mfa`, { waitUntil: 'load', timeout: stepMs });
  await visible(page, '#mfa-start', 'the account page offers no two-step sign-in set-up', stepMs);
  await page.click('#mfa-start');
  await visible(page, '#mfa-qr svg', 'no QR code was shown', stepMs);
  const totpSecret = (await page.textContent('#mfa-secret')).replace(/\s/g, '');
  if (!/^[A-Z2-7]{16,}$/.test(totpSecret)) throw new Error(`the key shown is not base32: ${totpSecret}`);
  const { code, step } = await freshTotpCode(totpSecret);
  await page.fill('#mfa-code', code);
  await page.click('#mfa-confirm-form button[type=submit]');
  await visible(page, '#mfa-codes', 'confirming the code did not show recovery codes', stepMs);
  const recoveryCodes = (await page.locator('#recovery-codes li').allTextContents()).map((c) => c.trim());
  if (recoveryCodes.length < 1) throw new Error('no recovery codes were shown');
  await page.click('#codes-done');
  await page.waitForFunction(
    () => document.getElementById('mfa-state')?.textContent.includes('is on'),
    null,
    { timeout: stepMs },
  );
  return { email, password, name, totpSecret, totpStep: step, recoveryCodes, page };
}
