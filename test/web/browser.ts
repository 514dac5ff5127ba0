/**
 * Shared helpers of the console's browser tests: Debian's Chromium driven by playwright-core against a real
 * server serving the built SPA (set up per suite by `useConsoleBrowser`), plus screenshot and locator helpers.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, watch } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import yazl from 'yazl';
import { Api } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WEB = path.join(ROOT, 'web');
export const SHOTS = path.join(ROOT, 'test-results', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };
export const UI_TIMEOUT = 15_000;

/** A missing browser is a set-up error, not a reason to skip: scripts/install-system-deps.sh installs it. */
export function assertChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No Chromium at ${CHROMIUM}: run scripts/install-system-deps.sh (or set CHROMIUM_PATH)`);
  }
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function consoleIsFresh(): boolean {
  const index = path.join(WEB, 'dist', 'index.html');
  const sources = Math.max(
    newestMtime(path.join(WEB, 'src')),
    statSync(path.join(WEB, 'index.html')).mtimeMs,
    statSync(path.join(WEB, 'vite.config.ts')).mtimeMs,
  );
  return existsSync(index) && statSync(index).mtimeMs >= sources;
}

/** Resolves once `dir` no longer exists (the lock holder removed it) or the time is up. */
function lockReleased(dir: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const parent = path.dirname(dir);
    const watcher = watch(parent, () => {
      if (!existsSync(dir)) done();
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`Timed out waiting for another test file to build the console (${dir})`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      watcher.close();
      resolve();
    };
    if (!existsSync(dir)) done();
  });
}

/**
 * Builds web/dist when it is missing or older than the console's sources (the server mounts it at start).
 * Test files run in parallel, so the build is guarded by a lock directory: one file builds, the others wait.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  if (consoleIsFresh()) return;
  mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
  const lock = path.join(ROOT, 'test-results', '.console-build.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than any build is left over from a killed run.
      if (Date.now() - statSync(lock).mtimeMs > 170_000) rmSync(lock, { recursive: true, force: true });
      else await lockReleased(lock, 170_000);
    }
  }
  try {
    if (consoleIsFresh()) return;
    // A child process, so the build sees NODE_ENV=production (vitest sets NODE_ENV=test, which would bundle
    // React's development build).
    execFileSync(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/vite/bin/vite.js'),
        'build',
        '--config',
        path.join(WEB, 'vite.config.ts'),
        '--logLevel',
        'warn',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, NODE_ENV: 'production' },
        stdio: 'inherit',
      },
    );
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A skill archive in the `.skill` layout (one top-level folder), built with yazl. */
export function skillZip(name: string, version: string, instructions: string): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const skillMd = [
    '---',
    `name: ${name}`,
    `description: Demo skill for the console browser test (${version}). Use it to check uploads.`,
    'license: Apache-2.0',
    '---',
    '',
    '# Demo instructions',
    '',
    instructions,
    '',
    '<script>window.__pwned = true</script>',
    '',
    '- run `scripts/hello.py`',
    '- background: [the notes](reference/notes.md)',
    '',
  ].join('\n');
  zip.addBuffer(Buffer.from(skillMd), `${name}/SKILL.md`);
  zip.addBuffer(Buffer.from('#!/usr/bin/env python3\nprint("hello")\n'), `${name}/scripts/hello.py`, {
    mode: 0o100755,
  });
  zip.addBuffer(Buffer.from(`# Reference ${version}\n`), `${name}/reference/notes.md`);
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

/** Writes `<name>-desktop.png` and `<name>-phone.png` into test-results/screenshots/. */
export async function shoot(page: Page, name: string, { fullPage = true } = {}): Promise<void> {
  const opts = {
    fullPage,
    animations: 'disabled' as const,
    caret: 'hide' as const,
    // Toasts come and go; keep them out of the pictures.
    style: '.toaster { display: none !important; }',
  };
  // Sticky headers smear across full-page shots taken mid-scroll.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ ...opts, path: path.join(SHOTS, `${name}-desktop.png`) });
  await page.setViewportSize(PHONE);
  await page.screenshot({ ...opts, path: path.join(SHOTS, `${name}-phone.png`) });
  await page.setViewportSize(DESKTOP);
}

/** The page's own title (a rendered SKILL.md preview further down may hold an h1 of the same name). */
export const heading = (page: Page, name: string | RegExp) =>
  page.getByRole('heading', { level: 1, name }).first();
export const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: UI_TIMEOUT });
export const hidden = (l: Locator) => l.waitFor({ state: 'hidden', timeout: UI_TIMEOUT });

const AXE_SOURCE = readFileSync(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

export interface AxeFinding {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core in the page (evaluated, so the console's Content-Security-Policy does not block it) and returns
 * its serious and critical violations, one entry per rule with the offending elements' selectors.
 */
export async function axeSerious(page: Page): Promise<AxeFinding[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<any> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return (result.violations as any[])
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({
        id: v.id as string,
        impact: v.impact as string,
        help: v.help as string,
        targets: (v.nodes as any[]).map((n) => String(n.target)),
      }));
  });
}

export interface ConsoleHarness {
  /** Set once the suite's beforeAll has run. */
  server: TestServer;
  /** Anonymous REST client of `server`. */
  api: Api;
  browser: Browser;
  /** A page in a fresh browser context (its own localStorage, so its own session), closed after the test. */
  freshPage(viewport?: { width: number; height: number }): Promise<Page>;
  /** Signs in through the login form and waits for the Skills page. */
  logIn(page: Page, login: string, password: string): Promise<void>;
}

/**
 * The set-up every console browser suite shares, registered as the calling `describe`'s hooks: the console
 * built, a test server (with `env`), Chromium; after each test its contexts are closed and no page may have
 * thrown; after all, the browser and the server are closed.
 */
export function useConsoleBrowser(
  env: Record<string, string> = {},
  serverOptions: Parameters<typeof startTestServer>[1] = {},
): ConsoleHarness {
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const harness = {
    async freshPage(viewport = DESKTOP) {
      const context = await harness.browser.newContext({
        viewport,
        baseURL: harness.server.baseUrl,
        reducedMotion: 'reduce',
      });
      context.setDefaultTimeout(UI_TIMEOUT);
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      return page;
    },
    async logIn(page: Page, login: string, password: string) {
      await page.goto('/login');
      await visible(heading(page, 'Log in'));
      await page.getByLabel('Email or username').fill(login);
      await page.getByLabel('Password', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await visible(heading(page, 'Skills'));
    },
  } as ConsoleHarness;

  beforeAll(async () => {
    assertChromium();
    mkdirSync(SHOTS, { recursive: true });
    await ensureConsoleBuilt();
    harness.server = await startTestServer(env, serverOptions);
    harness.api = new Api(harness.server.baseUrl);
    harness.browser = await launchBrowser();
  }, 180_000);

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
    expect(pageErrors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await harness.browser?.close();
    await harness.server?.close();
  });

  return harness;
}
