/**
 * Browser tests of the console's accessibility and layout: axe-core finds no serious or critical violation on any
 * page (signed out, user and admin pages, desktop and phone widths); code blocks scroll from the keyboard; skill
 * cards clamp their description cleanly; the file tree shows whole file names; and a skill that MCP skills/list
 * leaves out is marked on its card, its page and its version.
 *
 * Needs /usr/bin/chromium (scripts/install-system-deps.sh) or CHROMIUM_PATH.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerUser } from '../helpers/api.js';
import { yazlZip } from '../helpers/zips.js';
import {
  DESKTOP,
  PHONE,
  UI_TIMEOUT,
  axeSerious,
  heading,
  shoot,
  visible,
  useConsoleBrowser,
} from './browser.js';

const LONG_FILE = 'a-rather-long-reference-file-name-that-used-to-be-cut.md';
const LONG_DESCRIPTION = `Builds quarterly reports from raw spreadsheets. ${'Use it whenever numbers need a story. '.repeat(28)}`;
const CODE_LINE = `python scripts/build.py --input data/${'very-long-segment/'.repeat(12)}input.csv --format pdf`;

const skillMd = (name: string, description: string) =>
  [
    '---',
    `name: ${name}`,
    `description: ${JSON.stringify(description)}`,
    '---',
    '',
    `# ${name}`,
    '',
    'Run this:',
    '',
    '```sh',
    CODE_LINE,
    '```',
    '',
    `See [the reference](reference/${LONG_FILE}).`,
    '',
  ].join('\n');

describe('web console: accessibility and layout (browser)', () => {
  const web = useConsoleBrowser();
  const { freshPage } = web;
  let admin: Awaited<ReturnType<typeof registerUser>>;

  beforeAll(async () => {
    admin = await registerUser(web.api, 'a11y-admin');
    const upload = async (name: string, description: string) => {
      const zip = await yazlZip([
        { path: `${name}/SKILL.md`, data: skillMd(name, description) },
        { path: `${name}/reference/${LONG_FILE}`, data: '# Reference\n' },
        { path: `${name}/scripts/build.py`, data: 'print("build")\n', mode: 0o100755 },
      ]);
      const res = await admin.api.post('/api/v1/skills', zip);
      expect(res.status, res.text).toBe(201);
      return res.body;
    };
    await upload('report-builder', 'Builds reports. Use it for quarterly numbers.');
    const long = await upload('long-winded', LONG_DESCRIPTION.trim());
    expect(long.warnings.join(' ')).toMatch(/skills\/list will not show/);
    await upload('short-one', 'A short description that fits on one line.');
  });

  const logIn = (page: Page) => web.logIn(page, admin.user.username, admin.password);

  /** Each page, once it has loaded, as a path and the h1 that proves it did. */
  const SIGNED_OUT: [string, string][] = [
    ['/login', 'Log in'],
    ['/signup', 'Create your account'],
  ];
  const SIGNED_IN: [string, string | RegExp][] = [
    ['/skills', 'Skills'],
    ['/skills/long-winded', 'long-winded'],
    ['/skills/new', 'Upload a skill'],
    ['/tokens', 'API tokens'],
    ['/connect', 'Connect a client'],
    ['/account', 'Account'],
    ['/audit', 'All activity'],
    ['/admin', 'Admin'],
  ];

  it.each([
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ])(
    'axe: no serious or critical violations on any page (%s)',
    async (_name, viewport) => {
      const findings: Record<string, unknown> = {};
      const anon = await freshPage(viewport);
      for (const [path, h1] of SIGNED_OUT) {
        await anon.goto(path);
        await visible(heading(anon, h1));
        const found = await axeSerious(anon);
        if (found.length) findings[path] = found;
      }
      const page = await freshPage(viewport);
      await logIn(page);
      for (const [path, h1] of SIGNED_IN) {
        await page.goto(path);
        await visible(heading(page, h1));
        // wait for the page's data, not its skeleton
        await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, {
          timeout: UI_TIMEOUT,
        });
        const found = await axeSerious(page);
        if (found.length) findings[path] = found;
      }
      // the search's best matches with results on screen
      await page.goto('/skills?q=reports');
      await visible(
        page.getByRole('region', { name: 'Best matches' }).getByRole('link', { name: 'report-builder' }),
      );
      const search = await axeSerious(page);
      if (search.length) findings['/skills?q=reports (best matches)'] = search;
      // a source file and a dialog too
      await page.goto('/skills/report-builder');
      await page.getByRole('button', { name: /build\.py/ }).click();
      await visible(page.getByRole('region', { name: 'Contents of scripts/build.py' }));
      const source = await axeSerious(page);
      if (source.length) findings['/skills/report-builder (build.py)'] = source;
      await page.getByRole('button', { name: 'Delete skill' }).click();
      await visible(page.getByRole('dialog'));
      const dialog = await axeSerious(page);
      if (dialog.length) findings['/skills/report-builder (delete dialog)'] = dialog;
      expect(findings).toEqual({});
    },
    180_000,
  );

  it('code blocks are named regions that scroll from the keyboard', async () => {
    const page = await freshPage();
    await logIn(page);
    await page.goto('/skills/report-builder');
    const code = page.getByRole('region', { name: 'Code (sh)' });
    await visible(code);
    expect(await code.getAttribute('tabindex')).toBe('0');
    expect(await code.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
    // Tab reaches it (after the page's other controls): focus it the way the keyboard does, then scroll
    await code.focus();
    expect(await code.evaluate((el) => el === document.activeElement && el.matches(':focus-visible'))).toBe(
      true,
    );
    for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowRight');
    await page.waitForFunction((el) => el!.scrollLeft > 0, await code.elementHandle(), {
      timeout: UI_TIMEOUT,
    });
    // the front matter block is one too
    const fm = page.getByRole('region', { name: 'Front matter' });
    expect(await fm.getAttribute('tabindex')).toBe('0');
  }, 60_000);

  it('file tree shows whole file names, at desktop and phone widths', async () => {
    const page = await freshPage();
    await logIn(page);
    await page.goto('/skills/report-builder');
    const file = page.getByRole('button', { name: LONG_FILE });
    await visible(file);
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize(viewport);
      const shown = await file.locator('.tree-name').evaluate((el) => ({
        text: el.textContent,
        cut: el.scrollWidth > el.clientWidth + 1,
        right: el.getBoundingClientRect().right,
        treeRight: el.closest('.file-tree')!.getBoundingClientRect().right,
      }));
      expect(shown.text).toBe(LONG_FILE);
      expect(shown.cut).toBe(false);
      expect(shown.right).toBeLessThanOrEqual(shown.treeRight);
    }
    await page.setViewportSize(DESKTOP);
    await file.click();
    await shoot(page, 'skill-file-tree-long-names');
  }, 60_000);

  it('skill cards clamp the description to two whole lines', async () => {
    const page = await freshPage();
    await logIn(page);
    await visible(page.getByRole('link', { name: 'long-winded' }));
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize(viewport);
      const cards = page.locator('.skill-card:not(.skeleton-card)');
      expect(await cards.count()).toBe(3);
      for (const card of await cards.all()) {
        const m = await card.locator('.skill-card-desc').evaluate((el) => {
          const s = getComputedStyle(el);
          return { height: el.getBoundingClientRect().height, line: parseFloat(s.lineHeight) };
        });
        // never more than two lines tall: a taller box shows part of a third line under the ellipsis
        expect(m.height).toBeLessThanOrEqual(2 * m.line + 0.5);
      }
    }
    await page.setViewportSize(DESKTOP);
    await shoot(page, 'skills-cards-clamped');
  }, 60_000);

  it('marks a skill that MCP skills/list leaves out on its card, its page and its version', async () => {
    const page = await freshPage();
    await logIn(page);
    const card = page.getByRole('listitem').filter({ has: page.getByRole('link', { name: 'long-winded' }) });
    await visible(card.getByText('Not in MCP skills/list'));
    const other = page.getByRole('listitem').filter({ has: page.getByRole('link', { name: 'short-one' }) });
    await visible(other);
    expect(await other.getByText('Not in MCP skills/list').count()).toBe(0);

    await page.goto('/skills/long-winded');
    const notice = page
      .getByRole('status')
      .filter({ hasText: "MCP clients' skills/list will not show this skill" });
    await visible(notice);
    expect(await notice.textContent()).toMatch(/description is \d{4} characters, over the limit of 1024/);
    expect(await notice.textContent()).toMatch(/load_skill_metadata/);
    await visible(page.getByRole('region', { name: 'Versions' }).getByText('Not in MCP skills/list'));
    await shoot(page, 'skill-mcp-unlisted');

    await page.goto('/skills/short-one');
    await visible(heading(page, 'short-one'));
    expect(await page.getByText("MCP clients' skills/list will not show this skill").count()).toBe(0);
  }, 60_000);
});
