/**
 * Browser tests of the console's account, admin and sharing features and of keyboard focus on the login page:
 * Debian's Chromium driven by playwright-core against a real server (its own temporary database) serving the
 * built SPA. Screenshots of the new pages and states land in test-results/screenshots/.
 *
 * Needs /usr/bin/chromium (scripts/install-system-deps.sh) or CHROMIUM_PATH.
 */
import type { Locator, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerUser } from '../helpers/api.js';
import { SHOTS, heading, shoot, skillZip, visible, useConsoleBrowser } from './browser.js';

describe('web console: account, admin, sharing, keyboard (browser)', () => {
  const web = useConsoleBrowser();
  const { freshPage, logIn } = web;
  let admin: Awaited<ReturnType<typeof registerUser>>;

  beforeAll(async () => {
    // The first account on a fresh server is the administrator.
    admin = await registerUser(web.api, 'e2e-admin');
    expect(admin.user.is_admin).toBe(true);
  });

  async function submitLogin(page: Page, login: string, password: string): Promise<void> {
    await page.getByLabel('Email or username').fill(login);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
  }

  const nav = (page: Page, name: string) =>
    page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

  /** The text of the element(s) an input's aria-describedby points at. */
  const description = (input: Locator) =>
    input.evaluate((el) =>
      (el.getAttribute('aria-describedby') ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((id) => document.getElementById(id)?.textContent ?? '')
        .join(' '),
    );

  const loginStatus = async (login: string, password: string) => {
    const res = await web.api.post('/api/v1/auth/login', { login, password });
    return { status: res.status, code: (res.body as { error?: { code?: string } })?.error?.code };
  };

  it('keyboard: Tab reaches login, password and submit in order, each with a visible focus ring', async () => {
    const page = await freshPage();
    await page.goto('/login');
    await visible(heading(page, 'Log in'));
    await visible(page.getByRole('button', { name: 'Log in' }));

    const stops = [
      page.getByLabel('Email or username'),
      page.getByLabel('Password', { exact: true }),
      page.getByRole('button', { name: 'Log in' }),
    ];
    for (const [i, target] of stops.entries()) {
      await page.keyboard.press('Tab');
      expect(await target.evaluate((el) => el === document.activeElement), `tab stop ${i + 1}`).toBe(true);
      const ring = await target.evaluate((el) => {
        const s = getComputedStyle(el);
        return {
          focusVisible: el.matches(':focus-visible'),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
          boxShadow: s.boxShadow !== 'none',
        };
      });
      expect(ring.focusVisible, `tab stop ${i + 1} matches :focus-visible`).toBe(true);
      expect(ring.outline || ring.boxShadow, `tab stop ${i + 1} has a focus ring`).toBe(true);
      if (i === 0) {
        await page.screenshot({
          path: `${SHOTS}/login-keyboard-focus-desktop.png`,
          animations: 'disabled',
          caret: 'hide',
        });
      }
    }
    // The phone layout keeps the ring on the focused button.
    await page.setViewportSize({ width: 375, height: 812 });
    expect(await stops[2]!.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.screenshot({
      path: `${SHOTS}/login-keyboard-focus-phone.png`,
      animations: 'disabled',
      caret: 'hide',
    });
  }, 60_000);

  it('account: change password (wrong current password next to its field), then log in again', async () => {
    const page = await freshPage();
    const user = await registerUser(web.api, 'e2e-carol');
    const newPassword = 'a brand new passphrase 2024';
    await logIn(page, user.user.username, user.password);

    await page.getByRole('link', { name: /Account/ }).click();
    await visible(heading(page, 'Account'));
    const current = page.getByLabel('Current password', { exact: true });
    const next = page.getByLabel('New password', { exact: true });
    const confirm = page.getByLabel('Confirm new password', { exact: true });
    const change = page.getByRole('button', { name: 'Change password' });

    // --- wrong current password: the error sits under that field and describes it
    await current.fill('this is not my password');
    await next.fill(newPassword);
    await confirm.fill(newPassword);
    await change.click();
    const currentField = page.locator('.field', { has: current });
    const fieldError = currentField.getByRole('alert');
    await visible(fieldError);
    expect(await fieldError.textContent()).toMatch(/wrong/i);
    expect(await current.getAttribute('aria-invalid')).toBe('true');
    expect(await description(current)).toMatch(/wrong/i);
    // nothing else is flagged, and no form-level duplicate of the message
    expect(await next.getAttribute('aria-invalid')).toBeNull();
    expect(await page.locator('form', { has: current }).locator('.form-error').count()).toBe(0);
    // still signed in: a wrong password is not an expired session
    expect(new URL(page.url()).pathname).toBe('/account');
    await shoot(page, 'account-password-wrong');

    // --- the right current password: signed out everywhere, back to the login page
    await current.fill(user.password);
    await change.click();
    await page.waitForURL('**/login');
    await visible(heading(page, 'Log in'));
    await visible(page.getByText('Your password was changed. Log in with the new password.'));
    await shoot(page, 'login-password-changed');
    // the old console session is gone for good: its refresh token was revoked and dropped
    expect(
      (await web.api.post('/api/v1/auth/refresh', { refresh_token: user.refreshToken })).status,
    ).toBeGreaterThanOrEqual(400);
    await page.goto('/account');
    await page.waitForURL(/\/login/);

    // --- the old password no longer works; the new one does
    await submitLogin(page, user.user.username, user.password);
    await visible(page.getByRole('alert').filter({ hasText: /invalid|incorrect|wrong/i }));
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Password', { exact: true }).fill(newPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(heading(page, 'Account'));
    expect(await loginStatus(user.user.username, newPassword)).toEqual({ status: 200, code: undefined });
  }, 120_000);

  it('admin: disable a user (their token gets 401, login 403 account_disabled), then enable again', async () => {
    const page = await freshPage();
    const bob = await registerUser(web.api, 'e2e-bob');
    expect(bob.user.is_admin).toBe(false);
    expect((await bob.api.get('/api/v1/users/me')).status).toBe(200);

    await logIn(page, admin.user.username, admin.password);
    await nav(page, 'Admin').click();
    await visible(heading(page, 'Admin'));
    const row = page.getByRole('row').filter({ hasText: 'e2e-bob' });
    await visible(row.getByText('Active'));
    // no disable button on your own row
    await visible(page.getByRole('row').filter({ hasText: '(you)' }));
    expect(await page.getByRole('button', { name: 'Disable e2e-admin' }).count()).toBe(0);

    // --- disable, through the confirmation dialog
    await row.getByRole('button', { name: 'Disable e2e-bob' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disable e2e-bob?' });
    await visible(dialog);
    await shoot(page, 'admin-disable-dialog', { fullPage: false });
    await dialog.getByRole('button', { name: 'Disable user' }).click();
    await visible(row.getByText('Disabled'));
    await visible(row.getByRole('button', { name: 'Enable e2e-bob' }));
    await shoot(page, 'admin-user-disabled');

    // their console session stops at once, and they cannot log in
    expect((await bob.api.get('/api/v1/users/me')).status).toBe(401);
    expect(await loginStatus('e2e-bob', bob.password)).toEqual({ status: 403, code: 'account_disabled' });

    // --- enable again: login works
    await row.getByRole('button', { name: 'Enable e2e-bob' }).click();
    await visible(row.getByText('Active'));
    await visible(row.getByRole('button', { name: 'Disable e2e-bob' }));
    expect((await loginStatus('e2e-bob', bob.password)).status).toBe(200);
  }, 120_000);

  it('sharing: admin shares a skill; another user sees it under "Shared with me", read-only, and hides it', async () => {
    const skill = 'e2e-shared-demo';
    const up = await admin.api.post('/api/v1/skills', await skillZip(skill, 'v1', 'Shared instructions.'));
    expect(up.status).toBe(201);
    // a second version, so the owner has rollback and delete-version controls the other user must not get
    const v2 = await admin.api.post(
      `/api/v1/skills/${skill}/versions`,
      await skillZip(skill, 'v2', 'Shared instructions, second edition.'),
    );
    expect(v2.status).toBe(201);

    // --- admin: switch "Shared with all users" on in the skill's settings
    const adminPage = await freshPage();
    await logIn(adminPage, admin.user.username, admin.password);
    await adminPage.goto(`/skills/${skill}`);
    await visible(heading(adminPage, skill));
    const share = adminPage.getByRole('switch', { name: 'Shared with all users' });
    expect(await share.isChecked()).toBe(false);
    await share.click();
    await adminPage.waitForFunction(
      (el) => (el as HTMLInputElement).checked && !(el as HTMLInputElement).disabled,
      await share.elementHandle(),
    );
    await visible(adminPage.locator('.header-meta').getByText('Shared', { exact: true }));
    await visible(adminPage.getByRole('button', { name: 'Roll back to version 1' }));
    await visible(adminPage.getByRole('button', { name: 'Delete version 1' }));
    await shoot(adminPage, 'skill-shared-owner');
    // the admin page's shared-skills list agrees
    await nav(adminPage, 'Admin').click();
    await visible(heading(adminPage, 'Admin'));
    const adminSwitch = adminPage.getByRole('switch', { name: `Share ${skill}` });
    await visible(adminSwitch);
    expect(await adminSwitch.isChecked()).toBe(true);

    // --- another user, in their own browser context
    const dave = await registerUser(web.api, 'e2e-dave');
    const page = await freshPage();
    await logIn(page, dave.user.username, dave.password);
    await page.getByText('Shared with me', { exact: true }).click();
    await page.waitForURL(/[?&]scope=shared/);
    const card = page.getByRole('listitem').filter({ has: page.getByRole('link', { name: skill }) });
    await visible(card);
    await visible(card.getByText('Shared with you'));
    await shoot(page, 'skills-shared-with-me');
    // "Mine" does not list it
    await page.getByText('Mine', { exact: true }).click();
    await page.waitForURL(/[?&]scope=own/);
    await visible(page.getByText('No skills match'));

    // --- read-only detail page: no delete, no new version, no owner switches; only "Hide"
    await page.goto(`/skills/${skill}`);
    await visible(heading(page, skill));
    await visible(page.getByRole('region', { name: 'Details' }).getByText('Shared by an administrator'));
    const hide = page.getByRole('switch', { name: 'Hide from my library' });
    await visible(hide);
    expect(await page.getByRole('button', { name: 'Delete skill' }).count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Upload a new version' }).count()).toBe(0);
    expect(await page.getByLabel('Skill archive (.zip or .skill)').count()).toBe(0);
    for (const name of ['Enabled', 'Allow running commands', 'Shared with all users']) {
      const sw = page.getByRole('switch', { name, exact: true });
      expect((await sw.count()) === 0 || (await sw.isDisabled()), `${name} switch`).toBe(true);
    }
    // version management is the owner's too, and so are earlier versions: others see only the current one
    const versions = page.getByRole('region', { name: 'Versions' });
    await visible(versions.getByText('Version 2'));
    expect(await versions.getByText('Version 1').count()).toBe(0);
    expect(await page.getByRole('button', { name: /Roll back/ }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /Delete version/ }).count()).toBe(0);
    await shoot(page, 'skill-shared-readonly');

    // --- hide it
    expect(await hide.isChecked()).toBe(false);
    await hide.click();
    await page.waitForFunction(
      (el) => (el as HTMLInputElement).checked && !(el as HTMLInputElement).disabled,
      await hide.elementHandle(),
    );
    await visible(page.locator('.header-meta').getByText('Hidden', { exact: true }));
    await shoot(page, 'skill-shared-hidden');
    const fromApi = await dave.api.get(`/api/v1/skills/${skill}`);
    expect(fromApi.body).toMatchObject({ origin: 'shared', hidden: true });
    // the owner's skill is untouched
    expect((await admin.api.get(`/api/v1/skills/${skill}`)).body).toMatchObject({
      hidden: false,
      shared: true,
    });

    // the shared list marks it hidden
    await page.goto('/skills?scope=shared');
    await visible(card.getByText('Hidden', { exact: true }));
  }, 150_000);
});
