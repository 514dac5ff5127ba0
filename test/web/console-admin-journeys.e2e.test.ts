/**
 * Browser tests of the console's admin journeys: promote and demote a user, switch commands off for everybody,
 * read everyone's activity with actors and target names and narrow it with filters (and a user's own, narrower
 * view), reset a user's password and delete a user. Each journey is checked against the API afterwards.
 *
 * The reset-password and delete journeys use `POST /api/v1/users/{id}/password` and `DELETE /api/v1/users/{id}`.
 *
 * Needs /usr/bin/chromium (scripts/install-system-deps.sh) or CHROMIUM_PATH.
 */
import type { Locator, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, registerUser } from '../helpers/api.js';
import { recordAudit } from '../../src/audit/service.js';
import {
  UI_TIMEOUT,
  axeSerious,
  heading,
  hidden,
  shoot,
  skillZip,
  visible,
  useConsoleBrowser,
} from './browser.js';

describe('web console: admin journeys (browser)', () => {
  const web = useConsoleBrowser();
  let admin: Awaited<ReturnType<typeof registerUser>>;

  beforeAll(async () => {
    admin = await registerUser(web.api, 'boss');
    expect(admin.user.is_admin).toBe(true);
  });

  async function signedIn(login: string, password: string): Promise<Page> {
    const page = await web.freshPage();
    await web.logIn(page, login, password);
    return page;
  }

  const adminPage = async () => {
    const page = await signedIn(admin.user.username, admin.password);
    await page.goto('/admin');
    await visible(heading(page, 'Admin'));
    return page;
  };
  const userRow = (page: Page, username: string) =>
    page.getByRole('row').filter({ has: page.getByText(username, { exact: true }) });
  const loginStatus = async (login: string, password: string) =>
    (await web.api.post('/api/v1/auth/login', { login, password })).status;

  /** The text of one column in every row of the activity table. */
  const column = async (page: Page, label: string): Promise<string[]> =>
    page.locator(`.audit-table td[data-label="${label}"]`).allInnerTexts();
  const waitForRows = (page: Page, check: (rows: Locator) => Promise<boolean>) =>
    expect
      .poll(async () => check(page.locator('.audit-table tbody tr')), { timeout: UI_TIMEOUT, interval: 100 })
      .toBe(true);

  it('promote a user to administrator and back', async () => {
    const ann = await registerUser(web.api, 'ann');
    const page = await adminPage();
    const row = userRow(page, 'ann');
    await visible(row.getByRole('cell', { name: 'User', exact: true }));
    // no role buttons on your own row
    expect(await page.getByRole('button', { name: 'Make admin: boss' }).count()).toBe(0);
    // with another user's row and its actions on the page (each button's name begins with its visible text)
    expect(await axeSerious(page)).toEqual([]);

    await row.getByRole('button', { name: 'Make admin: ann' }).click();
    const dialog = page.getByRole('dialog', { name: 'Make ann an administrator?' });
    await visible(dialog);
    expect(await axeSerious(page)).toEqual([]);
    await shoot(page, 'admin-promote-dialog', { fullPage: false });
    await dialog.getByRole('button', { name: 'Make administrator' }).click();
    await hidden(dialog);
    await visible(row.getByText('Admin', { exact: true }));
    expect((await ann.api.get('/api/v1/users/me')).body.is_admin).toBe(true);
    // an admin now: she can read the server settings
    expect((await ann.api.get('/api/v1/admin/settings')).status).toBe(200);
    await shoot(page, 'admin-users');

    await row.getByRole('button', { name: 'Remove admin: ann' }).click();
    await visible(row.getByRole('button', { name: 'Make admin: ann' }));
    expect((await ann.api.get('/api/v1/users/me')).body.is_admin).toBe(false);
    expect((await ann.api.get('/api/v1/admin/settings')).status).toBe(403);
  }, 90_000);

  it('switch running commands off for everybody, and on again', async () => {
    const page = await adminPage();
    const toggle = page.getByRole('switch', { name: 'Allow running skill commands' });
    await visible(toggle);
    expect(await toggle.isChecked()).toBe(true);
    await toggle.click();
    await page.waitForFunction(
      (el) => !(el as HTMLInputElement).checked && !(el as HTMLInputElement).disabled,
      await toggle.elementHandle(),
    );
    expect((await admin.api.get('/api/v1/admin/settings')).body).toMatchObject({ commands_enabled: false });
    await shoot(page, 'admin-settings-commands-off');
    // it stays off after a reload
    await page.reload();
    await visible(toggle);
    expect(await toggle.isChecked()).toBe(false);
    await toggle.click();
    await page.waitForFunction((el) => (el as HTMLInputElement).checked, await toggle.elementHandle());
    expect((await admin.api.get('/api/v1/admin/settings')).body).toMatchObject({ commands_enabled: true });
  }, 90_000);

  it("activity: an admin sees everyone's events with actors and names, and filters them", async () => {
    const cleo = await registerUser(web.api, 'cleo');
    const up = await cleo.api.post('/api/v1/skills', await skillZip('cleo-notes', 'v1', 'Notes.'));
    expect(up.status).toBe(201);
    await createApiToken(cleo.api, ['mcp'], 'cleo-laptop');
    expect(await loginStatus('cleo', 'not the password at all')).toBe(401);
    expect((await admin.api.patch(`/api/v1/users/${cleo.user.id}`, { disabled: true })).status).toBe(200);
    expect((await admin.api.patch(`/api/v1/users/${cleo.user.id}`, { disabled: false })).status).toBe(200);
    // a command recorded before it ran and not completed (yet)
    await recordAudit(web.server.server.ctx.db.db, {
      actorId: admin.user.id,
      action: 'command.run',
      result: 'started',
      details: { command: 'python scripts/report.py' },
    });

    const page = await signedIn(admin.user.username, admin.password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Activity' }).click();
    await visible(heading(page, 'All activity'));
    await visible(page.getByRole('columnheader', { name: 'Actor' }));
    await visible(page.locator('.audit-table'));
    const actors = new Set(await column(page, 'Actor'));
    expect(actors.has('boss')).toBe(true);
    expect(actors.has('cleo')).toBe(true);
    // targets by name, never as raw ids
    const targets = await column(page, 'Target');
    expect(targets).toEqual(expect.arrayContaining(['skill cleo-notes', 'token cleo-laptop', 'user cleo']));
    for (const t of targets) expect(t).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    await shoot(page, 'activity-admin');

    // --- action filter (a prefix: every skill.* event)
    await page.getByLabel('Action', { exact: true }).selectOption({ label: 'Skills' });
    await page.waitForURL(/[?&]action=skill/);
    await waitForRows(page, async (rows) => (await rows.count()) > 0);
    await waitForRows(page, async () => (await column(page, 'Action')).every((a) => a.startsWith('skill.')));
    expect(await column(page, 'Target')).toContain('skill cleo-notes');

    // --- result filter combined with the action
    await page.getByLabel('Action', { exact: true }).selectOption({ label: 'Sign-ins and sign-outs' });
    await page.getByLabel('Result', { exact: true }).selectOption({ label: 'Failure' });
    await page.waitForURL(/result=failure/);
    await waitForRows(page, async () => {
      const actions = await column(page, 'Action');
      const results = await column(page, 'Result');
      return actions.length === 1 && actions[0] === 'auth.login' && results[0] === 'failure';
    });
    expect(await column(page, 'Target')).toEqual(['user cleo']);
    expect(await axeSerious(page)).toEqual([]);
    await shoot(page, 'activity-filtered');

    // --- started, not completed: a badge of its own that says what it means
    await page.getByLabel('Action', { exact: true }).selectOption({ label: 'All actions' });
    await page.getByLabel('Result', { exact: true }).selectOption({ label: 'Started, not completed' });
    await page.waitForURL(/result=started/);
    await waitForRows(page, async () => {
      const actions = await column(page, 'Action');
      const results = await column(page, 'Result');
      return actions.length === 1 && actions[0] === 'command.run' && results[0] === 'started';
    });
    const badge = page.locator('.audit-table td[data-label="Result"] .badge');
    expect(await badge.getAttribute('class')).toContain('badge-warning');
    expect(await badge.getAttribute('title')).toMatch(/not completed/);

    // --- clear, then narrow to one actor by clicking their name
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitForRows(page, async () => new Set(await column(page, 'Actor')).size > 1);
    await page.getByRole('button', { name: 'cleo: show only their events', exact: true }).first().click();
    await visible(page.getByText('By cleo'));
    await waitForRows(page, async () => {
      const names = await column(page, 'Actor');
      return names.length > 0 && names.every((n) => n === 'cleo');
    });
    // her own doings, including the failed sign-in to her account
    expect((await column(page, 'Action')).sort()).toEqual([
      'auth.login',
      'skill.create',
      'token.create',
      'user.register',
    ]);

    // --- and to one target: everything done to cleo's account, by anyone
    await page.getByRole('button', { name: 'Remove filter: By cleo' }).click();
    await page
      .getByRole('button', { name: 'cleo: show only events on this user', exact: true })
      .first()
      .click();
    await visible(page.getByText('On user cleo'));
    expect(await axeSerious(page)).toEqual([]);
    await waitForRows(page, async () => {
      const t = await column(page, 'Target');
      return t.length >= 4 && t.every((x) => x === 'user cleo');
    });
    expect(new Set(await column(page, 'Actor'))).toEqual(new Set(['boss', 'cleo']));

    // --- a date range that ends before today has nothing
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('To', { exact: true }).fill('2020-01-01');
    await visible(page.getByText('No events match these filters'));

    // --- cleo herself sees only her own events, without an actor column
    const own = await signedIn('cleo', cleo.password);
    await own.goto('/audit');
    await visible(heading(own, 'Your activity'));
    await visible(own.locator('.audit-table'));
    expect(await own.getByRole('columnheader', { name: 'Actor' }).count()).toBe(0);
    const ownTargets = await column(own, 'Target');
    expect(ownTargets).toEqual(expect.arrayContaining(['skill cleo-notes', 'token cleo-laptop']));
    expect((await column(own, 'Action')).every((a) => !a.startsWith('admin.'))).toBe(true);
    await shoot(own, 'activity-own');
  }, 150_000);

  // Needs POST /api/v1/users/{id}/password (another branch adds it).
  it("reset a user's password: they are signed out, the new password works and the old one does not", async () => {
    const dan = await registerUser(web.api, 'dan');
    const page = await adminPage();
    const row = userRow(page, 'dan');
    await row.getByRole('button', { name: 'Reset password of dan' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset the password of dan?' });
    await visible(dialog);
    const confirm = dialog.getByRole('button', { name: 'Set password' });
    // too short: the button stays off
    await dialog.getByLabel('New password').fill('short');
    expect(await confirm.isDisabled()).toBe(true);
    const fresh = 'a fresh password from the admin';
    await dialog.getByLabel('New password').fill(fresh);
    expect(await axeSerious(page)).toEqual([]);
    await shoot(page, 'admin-reset-password-dialog', { fullPage: false });
    await confirm.click();
    await hidden(dialog);
    await visible(page.getByText('Password of dan changed; they were signed out'));

    expect(await loginStatus('dan', dan.password)).toBe(401);
    expect(await loginStatus('dan', fresh)).toBe(200);
    // their console session ended
    expect(
      (await web.api.post('/api/v1/auth/refresh', { refresh_token: dan.refreshToken })).status,
    ).toBeGreaterThanOrEqual(400);
  }, 90_000);

  // Needs DELETE /api/v1/users/{id} (another branch adds it).
  it('delete a user after typing their name; their events stay, without a name', async () => {
    const eve = await registerUser(web.api, 'eve');
    const up = await eve.api.post('/api/v1/skills', await skillZip('eve-skill', 'v1', 'Eve.'));
    expect(up.status).toBe(201);
    const page = await adminPage();
    const row = userRow(page, 'eve');
    await row.getByRole('button', { name: 'Delete eve' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete eve?' });
    await visible(dialog);
    const confirm = dialog.getByRole('button', { name: 'Delete user' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type eve to confirm').fill('ev');
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type eve to confirm').fill('eve');
    expect(await axeSerious(page)).toEqual([]);
    await shoot(page, 'admin-delete-dialog', { fullPage: false });
    await confirm.click();
    await hidden(dialog);
    await expect.poll(() => row.count(), { timeout: UI_TIMEOUT }).toBe(0);

    expect(await loginStatus('eve', eve.password)).toBe(401);
    expect((await eve.api.get('/api/v1/users/me')).status).toBe(401);
    const users = await admin.api.get('/api/v1/users?q=eve');
    expect(users.body.items).toEqual([]);
    // the log keeps what eve did, with the actor and the skill gone
    await page.goto(`/audit?action=skill`);
    await visible(heading(page, 'All activity'));
    await waitForRows(page, async () => (await column(page, 'Target')).includes('deleted skill'));
    const created = page.locator('.audit-table tbody tr').filter({ hasText: 'deleted skill' }).first();
    expect(await created.locator('td[data-label="Actor"]').innerText()).toBe('unknown');
  }, 90_000);
});
