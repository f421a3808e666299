#!/usr/bin/env node
// The visit console's own controls in Chromium: a clinician schedules a video
// visit from the form and gets the patient's link once; a new link replaces
// it (the old one stops working, the new one works); revoking ends the new
// one too; cancelling the visit shows it cancelled. axe-core on the page.
//
// Environment: HUB_URL, HB_CLINICIAN_EMAIL, HB_CLINICIAN_PASSWORD,
// CHROMIUM_PATH, HB_ARTIFACTS_DIR.

import { Run, check, env, expectAccessible, signIn } from './lib/harness.mjs';

const run = new Run('visit-controls');

async function redeem(url) {
  const token = new URL(url).hash.replace(/^#t=/, '');
  const res = await fetch(`${run.base}/api/v1/visit-links/redeem`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return res.status;
}

await run.main(async () => {
  await run.launch();
  const context = await run.context();
  const page = run.watch(await context.newPage(), 'clinician');
  page.on('dialog', (d) => d.accept());

  run.begin('sign in and open the visits console');
  await signIn(page, run.base, { email: env('HB_CLINICIAN_EMAIL'), password: env('HB_CLINICIAN_PASSWORD') });
  await page.goto(`${run.base}/web/visits.html`);
  await page.getByRole('heading', { name: "Today's visits" }).waitFor();
  run.ok('the visits console opens in the shell');

  run.begin('create a visit');
  await page.getByText('New video visit').click();
  await page.getByLabel("Patient's name").fill('Pat Doe');
  const soon = new Date(Date.now() + 60 * 60 * 1000);
  const local = new Date(soon.getTime() - soon.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  await page.getByLabel('Date and time').fill(local);
  await page.getByRole('button', { name: 'Create visit' }).click();
  const first = await page.locator('#new-visit-link input').inputValue({ timeout: run.stepMs });
  check(first.includes('/visit#t='), 'the new visit showed no patient link');
  await page.locator('#visit-title').filter({ hasText: 'Pat Doe' }).waitFor();
  await expectAccessible(page, 'visits console with a new visit');
  run.ok('the visit is created, its link shown once, and it opens');

  run.begin('a new link replaces the old one');
  await page.getByRole('button', { name: 'New link for Pat Doe' }).click();
  const second = await page.locator('#links-result input').inputValue({ timeout: run.stepMs });
  check(second !== first, 'the new link is the old one');
  check((await redeem(first)) >= 400, 'the replaced link still works');
  check((await redeem(second)) === 200, 'the new link does not work');
  run.ok('"New link" gives a working link and ends the old one');

  run.begin('revoke the link');
  await page.getByRole('button', { name: 'Revoke link of Pat Doe' }).click();
  await page.locator('#links-result').waitFor({ state: 'hidden' });
  check((await redeem(second)) >= 400, 'the revoked link still works');
  run.ok('"Revoke link" ends the link');

  run.begin('cancel the visit');
  await page.getByRole('button', { name: 'Cancel the visit' }).click();
  await page.locator('#visit-meta[data-state="cancelled"]').waitFor();
  check(await page.getByRole('button', { name: 'Cancel the visit' }).isHidden(), 'a cancelled visit offers Cancel');
  await expectAccessible(page, 'a cancelled visit');
  run.noProblems();
  run.ok('the visit is cancelled and says so');
});
