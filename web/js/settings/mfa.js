// Two-step sign-in (TOTP): set up with the QR code the hub draws (`qr_svg`)
// or the key as text, confirm with a code, show the recovery codes once (copy
// or download), and turn it off with the password and a code.

import { feedback, busy } from './form.js';

const $ = (id) => document.getElementById(id);
const PARTS = ['mfa-off', 'mfa-enrol', 'mfa-codes', 'mfa-disable-form'];

function show(part) {
  for (const id of PARTS) $(id).hidden = id !== part;
}

function setState(on) {
  $('mfa-state').textContent = on
    ? 'Two-step sign-in is on: signing in asks for a code from your authenticator app.'
    : 'Two-step sign-in is off.';
  show(on ? 'mfa-disable-form' : 'mfa-off');
}

/**
 * Shows the hub's SVG as an element. It is parsed as SVG (not HTML) and only
 * its drawing is kept, so nothing in it can run.
 */
function showQr(svgText) {
  const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
  const svg = doc.documentElement;
  const box = $('mfa-qr');
  box.replaceChildren();
  if (svg?.localName !== 'svg' || doc.querySelector('parsererror')) return;
  for (const s of svg.querySelectorAll('script, foreignObject')) s.remove();
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  box.append(document.importNode(svg, true));
}

function showCodes(codes) {
  $('recovery-codes').replaceChildren(
    ...codes.map((c) => {
      const li = document.createElement('li');
      const code = document.createElement('code');
      code.textContent = c;
      li.append(code);
      return li;
    }),
  );
  const text = `HealthBridge recovery codes\nEach code signs you in once.\n\n${codes.join('\n')}\n`;
  const say = feedback('mfa');
  $('codes-copy').onclick = async () => {
    try {
      await navigator.clipboard.writeText(text);
      say.say('The codes are copied.');
    } catch {
      say.say('Copying is not allowed here: select the codes and copy them, or download them.');
    }
  };
  $('codes-download').onclick = () => {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'healthbridge-recovery-codes.txt';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  show('mfa-codes');
  $('mfa-codes').focus();
}

export async function mountMfa({ session, me }) {
  const ui = feedback('mfa');
  setState(me.mfa_enabled);

  $('mfa-start').addEventListener('click', async (event) => {
    ui.reset();
    try {
      const enrolment = await busy(event.currentTarget, () => session.post('/api/v1/auth/mfa/totp'));
      showQr(enrolment.qr_svg);
      $('mfa-secret').textContent = enrolment.secret.replace(/(.{4})/g, '$1 ').trim();
      $('mfa-code').value = '';
      show('mfa-enrol');
      $('mfa-code').focus();
    } catch (e) {
      ui.fail(e);
    }
  });

  $('mfa-cancel').addEventListener('click', () => {
    ui.reset();
    setState(false);
  });

  $('mfa-confirm-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    const code = $('mfa-code').value.replace(/\s/g, '');
    if (!/^\d{6}$/.test(code)) return ui.fail('Enter the 6 digits your app shows.', $('mfa-code'));
    try {
      const { recovery_codes: codes } = await busy(event.submitter ?? event.target, () =>
        session.post('/api/v1/auth/mfa/totp/confirm', { code }),
      );
      $('mfa-state').textContent = 'Two-step sign-in is on.';
      $('mfa-qr').replaceChildren();
      $('mfa-secret').textContent = '';
      showCodes(codes);
    } catch (e) {
      ui.fail(e, $('mfa-code'));
    }
  });

  $('codes-done').addEventListener('click', () => {
    $('recovery-codes').replaceChildren();
    ui.reset();
    setState(true);
    ui.say('Two-step sign-in is on.');
  });

  $('mfa-disable-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    const password = $('mfa-off-password');
    const code = $('mfa-off-code');
    if (!password.value) return ui.fail('Enter your password.', password);
    const typed = code.value.trim();
    if (!typed) return ui.fail('Enter a code from your app or a recovery code.', code);
    const digits = typed.replace(/\s/g, '');
    const body = /^\d{6}$/.test(digits)
      ? { password: password.value, totp_code: digits }
      : { password: password.value, recovery_code: typed };
    try {
      await busy(event.submitter ?? event.target, () => session.post('/api/v1/auth/mfa/totp/disable', body));
      password.value = '';
      code.value = '';
      setState(false);
      ui.say('Two-step sign-in is off.');
    } catch (e) {
      ui.fail(e, e.code === 'invalid_credentials' ? password : code);
    }
  });
}
