#!/usr/bin/env node
// The clinician console in a real browser (issue 12's third required test):
// clinician A creates a case room, adds colleague B, refers the case to another
// organization; that organization's clinician C sees the referral arrive live,
// accepts it and chooses who joins (themselves); A writes and B's unread count
// for the room rises without a reload (per-user `room.activity` events, no
// poll). A's link in a message is clickable and safe; A edits and deletes their
// own message. axe-core finds no violation on the console pages; any console
// error, failed request or CSP violation fails the run.
//
// Environment:
//   HUB_URL                                 base URL of a running hub
//   HB_A_EMAIL, HB_B_EMAIL                  clinicians of the referring organization
//   HB_C_EMAIL                              a clinician of the receiving organization
//   HB_PASSWORD                             everyone's password
//   HB_TARGET_ORG                           the receiving organization's name
//   HB_B_NAME, HB_C_NAME                    display names of B and C

import { Run, check, env, expectAccessible, signIn } from './lib/harness.mjs';

const run = new Run('console');
const PASSWORD = env('HB_PASSWORD');
const TARGET = env('HB_TARGET_ORG');
const B_NAME = env('HB_B_NAME');
const C_NAME = env('HB_C_NAME');
const TITLE = `Case ${Date.now().toString(36)}`;

async function person(email) {
  const context = await run.context();
  const page = await context.newPage();
  await signIn(page, run.base, { email, password: PASSWORD });
  check(page.url().endsWith('/web/app.html'), `${email} landed on ${page.url()}`);
  await page.waitForFunction(() => document.getElementById('conn-status')?.dataset.state === 'open', null, { timeout: run.stepMs });
  return page;
}

const roomLink = (page) => page.locator('#rooms-list a', { hasText: TITLE });
const unreadOf = (page) =>
  roomLink(page).evaluate((a) => Number(a.querySelector('[data-unread]')?.dataset.unread ?? 0));

await run.main(async () => {
  await run.launch();

  run.begin('clinicians sign in to the console');
  const a = await person(env('HB_A_EMAIL'));
  const b = await person(env('HB_B_EMAIL'));
  const c = await person(env('HB_C_EMAIL'));
  await expectAccessible(a, 'the console with no room open');
  run.ok('A, B and C land in the console, connected; axe-core finds nothing');

  run.begin('A creates a case room');
  await a.getByText('New case room').click();
  await a.getByLabel('Case title').fill(TITLE);
  await a.getByRole('button', { name: 'Create room' }).click();
  await a.locator('#room-title', { hasText: TITLE }).waitFor({ timeout: run.stepMs });
  run.ok('A created the room and it is open');

  run.begin('A adds B');
  await a.getByText('Members and referrals').click();
  await a.locator('#add-member-select option', { hasText: B_NAME }).waitFor({ state: 'attached', timeout: run.stepMs });
  const bOption = await a.locator('#add-member-select option', { hasText: B_NAME }).getAttribute('value');
  await a.selectOption('#add-member-select', bOption);
  await a.getByRole('button', { name: 'Add', exact: true }).click();
  await a.locator('#members-list li', { hasText: B_NAME }).waitFor({ timeout: run.stepMs });
  // B's list shows the new room without a reload (`room.added`).
  await roomLink(b).waitFor({ timeout: run.stepMs });
  run.ok("B is a member, and the room appears in B's list live");

  run.begin('A refers the case');
  await a.locator('#refer-select option', { hasText: TARGET }).waitFor({ state: 'attached', timeout: run.stepMs });
  await a.selectOption('#refer-select', { label: TARGET });
  await a.getByRole('button', { name: 'Refer', exact: true }).click();
  await a.locator('#referrals-list li[data-status="pending"]', { hasText: TARGET }).waitFor({ timeout: run.stepMs });
  await expectAccessible(a, 'the open room with its members and referrals');
  run.ok('the referral is pending; axe-core finds nothing on the open room');

  run.begin('C accepts the referral');
  const incoming = c.locator('#incoming-list li.referral', { hasText: TITLE });
  await incoming.waitFor({ timeout: run.stepMs });
  await c.locator('.toast', { hasText: 'referred a case' }).waitFor({ timeout: run.stepMs });
  await expectAccessible(c, 'the console with an incoming referral and a notice');
  const mine = incoming.getByLabel(`${C_NAME} (you)`);
  check(await mine.isChecked(), 'C is not chosen by default');
  await incoming.getByRole('button', { name: 'Accept' }).click();
  await roomLink(c).waitFor({ timeout: run.stepMs });
  await a.locator('#referrals-list li[data-status="accepted"]', { hasText: TARGET }).waitFor({ timeout: run.stepMs });
  run.ok("C saw the referral live with a visible notice, accepted it, and the room is in C's list");

  run.begin("B's unread count rises live");
  const before = await unreadOf(b);
  await a.getByRole('textbox', { name: 'Message', exact: true }).fill('Please review https://example.org/guide. Thanks');
  await a.getByRole('button', { name: 'Send' }).click();
  await b.waitForFunction(
    ([title, n]) => {
      const link = [...document.querySelectorAll('#rooms-list a')].find((x) => x.textContent.includes(title));
      return Number(link?.querySelector('[data-unread]')?.dataset.unread ?? 0) > n;
    },
    [TITLE, before],
    { timeout: run.stepMs },
  );
  run.ok(`B's unread count rose from ${before} to ${await unreadOf(b)} without a reload`);

  run.begin('links in messages are clickable and safe');
  const link = a.locator('#messages .msg-body a').first();
  await link.waitFor({ timeout: run.stepMs });
  check((await link.getAttribute('href')) === 'https://example.org/guide', 'the link goes elsewhere');
  check((await link.getAttribute('rel'))?.includes('noopener'), 'the link has no rel=noopener');
  await a.getByRole('textbox', { name: 'Message', exact: true }).fill('javascript:alert(1) <b>bold</b>');
  await a.getByRole('button', { name: 'Send' }).click();
  await a.locator('#messages .msg-body', { hasText: 'javascript:alert(1)' }).waitFor({ timeout: run.stepMs });
  check((await a.locator('#messages .msg-body a').count()) === 1, 'javascript: became a link');
  check((await a.locator('#messages .msg-body b').count()) === 0, 'markup in a message was rendered');
  run.ok('the https address is a link (rel=noopener); javascript: and markup stay text');

  run.begin('A edits and deletes their own message');
  const ownId = await a.locator('#messages li.msg.mine', { hasText: 'javascript:alert(1)' }).getAttribute('data-message-id');
  const own = a.locator(`#messages li.msg[data-message-id="${ownId}"]`);
  await own.getByRole('button', { name: /^Edit/ }).click();
  await own.getByLabel('Edit your message').fill('Corrected text');
  await own.getByRole('button', { name: 'Save' }).click();
  await b.locator('#rooms-list a', { hasText: TITLE }).click();
  await b.locator('#messages li.msg', { hasText: 'Corrected text' }).waitFor({ timeout: run.stepMs });
  a.once('dialog', (d) => d.accept());
  await a.locator('#messages li.msg.mine', { hasText: 'Corrected text' }).getByRole('button', { name: /^Delete/ }).click();
  await b.locator('#messages .msg-body.deleted').waitFor({ timeout: run.stepMs });
  run.ok('the edit and the deletion reach B live');

  run.begin("B's schedule: hours and leave");
  await b.goto(`${run.base}/web/schedule.html`);
  await b.locator('#agenda-status', { hasText: /No appointments|^$/ }).waitFor({ timeout: run.stepMs });
  await b.getByRole('button', { name: 'Week', exact: true }).click();
  await b.locator('#hours-zone').fill('Europe/Lisbon');
  await b.getByRole('button', { name: 'Add hours' }).click();
  await b.getByRole('button', { name: 'Save weekly hours' }).click();
  await b.locator('#hours-status', { hasText: 'saved' }).waitFor({ timeout: run.stepMs });
  await b.reload();
  await b.locator('#hours-rows .hours-row').first().waitFor({ timeout: run.stepMs });
  check((await b.locator('#hours-zone').inputValue()) === 'Europe/Lisbon', 'the hours were not kept');
  await b.getByLabel('From', { exact: true }).last().fill('2030-07-01T00:00');
  await b.getByLabel('Until').fill('2030-07-15T00:00');
  await b.getByLabel('Reason').fill('Summer leave');
  await b.getByRole('button', { name: 'Add leave' }).click();
  const leaveItem = b.locator('#leave-list li', { hasText: 'Summer leave' });
  await leaveItem.waitFor({ timeout: run.stepMs });
  await expectAccessible(b, 'the schedule page');
  b.once('dialog', (d) => d.accept());
  await leaveItem.getByRole('button', { name: /^Take back/ }).click();
  await leaveItem.waitFor({ state: 'detached', timeout: run.stepMs });
  run.ok('B sets weekly hours (kept after a reload), adds leave and takes it back; axe-core finds nothing');

  run.noProblems();
});
