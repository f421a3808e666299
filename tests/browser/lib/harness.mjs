// Shared plumbing of the end-to-end browser scripts: environment, numbered
// checks ("ok N - …"), a failure that prints the step, the browser's problems
// and a screenshot, the browser problems that fail a run (console errors,
// failed requests, Content-Security-Policy violations), axe-core and the
// sign-in form. The Rust side (tests/system/browser.rs) asserts
// "N passed, 0 failed".

import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

/** An environment variable, or `fallback`, or exit 2 naming what is missing. */
export function env(name, fallback) {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback !== undefined) return fallback;
  console.error(`FAIL: setup: environment variable ${name} is required`);
  process.exit(2);
}

export class Failure extends Error {}

/** Fails the current step with `message` unless `cond` holds. */
export function check(cond, message) {
  if (!cond) throw new Failure(message);
}

/** One script run: its browser, its checks and what the pages did wrong. */
export class Run {
  constructor(name) {
    this.name = name;
    this.base = env('HUB_URL').replace(/\/+$/, '');
    this.stepMs = Number(env('HB_STEP_TIMEOUT_MS', '15000'));
    this.passed = 0;
    this.step = 'setup';
    this.browser = null;
    this.pages = [];
    this.problems = [];
  }

  async launch(extraArgs = []) {
    this.browser = await chromium.launch({
      executablePath: env('CHROMIUM_PATH', '/usr/bin/chromium'),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        ...extraArgs,
      ],
    });
    return this.browser;
  }

  /** A fresh context (its own cookies and storage) whose pages are watched. */
  async context(options = {}) {
    const context = await this.browser.newContext(options);
    context.on('page', (p) => this.watch(p));
    return context;
  }

  /** Records console errors, failed requests and CSP violations of `page`. */
  watch(page, label = '') {
    this.pages.push(page);
    const where = () => `${label || page.url()}`;
    page.on('console', (m) => {
      if (m.type() === 'error') this.problems.push(`${where()}: console: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.problems.push(`${where()}: ${e.message}`));
    page.on('requestfailed', (r) => {
      const why = r.failure()?.errorText ?? '';
      // A navigation away cancels the page's pending fetches; that is not a fault.
      if (why.includes('ERR_ABORTED')) return;
      this.problems.push(`${where()}: request failed: ${r.method()} ${r.url()} ${why}`);
    });
    return page;
  }

  begin(step) {
    this.step = step;
  }

  ok(what) {
    this.passed += 1;
    console.log(`ok ${this.passed} - ${what}`);
  }

  /** Fails unless no page reported a problem since the last call. */
  noProblems() {
    check(this.problems.length === 0, `the browser reported:\n  ${this.problems.join('\n  ')}`);
  }

  async fail(err) {
    const why = err instanceof Failure ? err.message : err?.stack || String(err);
    console.error(`FAIL: ${this.step}: ${why}`);
    for (const p of this.problems) console.error(`  browser: ${p}`);
    try {
      const dir = process.env.HB_ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), `hb-${this.name}-`));
      mkdirSync(dir, { recursive: true });
      let i = 0;
      for (const p of this.pages) {
        if (p.isClosed()) continue;
        i += 1;
        await p.screenshot({ path: join(dir, `failure-${this.name}-${i}.png`), fullPage: true, timeout: 5000 });
      }
    } catch {
      /* screenshots are best effort */
    }
    console.error(`${this.passed} passed, 1 failed`);
    await this.browser?.close().catch(() => {});
    process.exit(1);
  }

  async finish() {
    await this.browser?.close();
    console.log(`${this.passed} passed, 0 failed`);
    process.exit(0);
  }

  /** Runs `body(run)` and ends the process with the verdict. */
  async main(body) {
    try {
      await body(this);
    } catch (err) {
      await this.fail(err);
    }
    await this.finish();
  }
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's WCAG 2.1 A/AA violations on the page as it is now, as lines
 * "rule (impact): target" (empty when the page is clean).
 */
export async function axeViolations(page) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  // Evaluated over the DevTools protocol, not as a <script>: the pages' CSP
  // (script-src 'self') rightly refuses inline scripts.
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  return result.map((v) => `${v.id} (${v.impact}): ${v.targets.join(', ')}`);
}

/** Fails the step when axe-core finds a violation on `page` (named `what`). */
export async function expectAccessible(page, what) {
  const found = await axeViolations(page);
  check(found.length === 0, `${what}: axe-core found ${found.length} violation(s):\n  ${found.join('\n  ')}`);
}

/**
 * Signs in through the form at `/` with the keyboard-free path a person uses:
 * email, password and, when asked, a one-time code from `code()`. Resolves
 * once the browser has left the sign-in page.
 */
export async function signIn(page, base, { email, password, code }) {
  await page.goto(`${base}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (code) {
    await page.getByLabel(/one-time code/i).waitFor();
    await page.getByLabel(/one-time code/i).fill(await code());
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await page.waitForURL((url) => url.pathname !== '/', { timeout: 15000 });
}
