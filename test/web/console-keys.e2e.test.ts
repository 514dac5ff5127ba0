/**
 * Browser test of the Tokens page's API key permissions: create with permissions and a skill restriction,
 * disable/enable, edit, revoke, and the admin-only permission. Debian's Chromium driven by playwright-core
 * against a real server serving the built SPA; every step is checked against the REST API as well.
 *
 * Needs /usr/bin/chromium (scripts/install-system-deps.sh) or CHROMIUM_PATH.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../helpers/api.js';
import { registerUser } from '../helpers/api.js';
import { axeSerious, heading, shoot, visible, useConsoleBrowser } from './browser.js';

describe('web console: API key permissions (browser)', () => {
  const web = useConsoleBrowser({ COMMANDS_ENABLED: 'false' });
  let admin: Awaited<ReturnType<typeof registerUser>>;

  beforeAll(async () => {
    admin = await registerUser(web.api, 'keys-admin'); // the first account is the administrator
  });

  async function tokensPage(login: string, password: string): Promise<Page> {
    const page = await web.freshPage();
    await web.logIn(page, login, password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
    await visible(heading(page, 'API tokens'));
    return page;
  }

  /** The REST view of the user's only key whose name is given. */
  async function keyNamed(session: Api, name: string) {
    const list = await session.get('/api/v1/api-keys');
    return list.body.items.find((k: { name: string }) => k.name === name);
  }

  it('creates a key with permissions and a skill restriction, disables, enables, edits and revokes it', async () => {
    const user = await registerUser(web.api, 'keys-user');
    const page = await tokensPage('keys-user', user.password);
    // An ordinary user is not offered the admin permission.
    await expect(page.getByRole('checkbox', { name: /^Admin/ }).count()).resolves.toBe(0);

    await page.getByLabel('Name', { exact: true }).fill('ci uploads');
    await page.getByRole('checkbox', { name: /^MCP/ }).uncheck();
    await page.getByRole('button', { name: 'Create token' }).click();
    await visible(page.getByText('Pick at least one of MCP, Manage or Assistants.'));
    await page.getByRole('checkbox', { name: /^Manage/ }).check();
    await page.getByLabel('Only these skills (optional)').fill('pdf, docx');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = await page.getByRole('textbox', { name: 'New token' }).inputValue();
    expect(token).toMatch(/^ask_live_[0-9a-f]{64}$/);
    const asKey = web.api.withToken(token);
    expect((await asKey.get('/api/v1/users/me')).status).toBe(200);
    expect(await keyNamed(user.api, 'ci uploads')).toMatchObject({
      can_manage: true,
      can_use_mcp: false,
      can_admin: false,
      restriction: { skills: ['pdf', 'docx'] },
    });
    await page.getByRole('button', { name: 'Done' }).click();

    const row = page.getByRole('row', { name: /ci uploads/ });
    await visible(row.getByText(`${token.slice(0, 12)}…`));
    await visible(row.getByText('Manage', { exact: true }));
    await visible(row.getByText('pdf, docx'));
    await visible(row.getByText('Active'));
    await shoot(page, 'api-keys');

    await row.getByRole('button', { name: 'Disable token ci uploads' }).click();
    await visible(row.getByText('Disabled'));
    expect((await asKey.get('/api/v1/users/me')).status).toBe(401);
    await row.getByRole('button', { name: 'Enable token ci uploads' }).click();
    await visible(row.getByText('Active'));
    expect((await asKey.get('/api/v1/users/me')).status).toBe(200);

    await row.getByRole('button', { name: 'Edit token ci uploads' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit “ci uploads”' });
    await visible(dialog);
    expect(await axeSerious(page)).toEqual([]);
    await shoot(page, 'api-key-edit');
    await dialog.getByRole('checkbox', { name: /^MCP/ }).check();
    await dialog.getByLabel('Only these skills (optional)').fill('');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await visible(row.getByText('MCP', { exact: true }));
    await visible(row.getByText('All', { exact: true }));
    expect(await keyNamed(user.api, 'ci uploads')).toMatchObject({
      can_manage: true,
      can_use_mcp: true,
      restriction: null,
    });

    await row.getByRole('button', { name: 'Revoke token ci uploads' }).click();
    await page.getByRole('button', { name: 'Revoke token', exact: true }).click();
    await visible(row.getByText('Revoked'));
    expect((await asKey.get('/api/v1/users/me')).status).toBe(401);
  });

  it('offers the admin permission to an admin only, and a key given it carries admin powers', async () => {
    const page = await tokensPage('keys-admin', admin.password);
    await page.getByLabel('Name', { exact: true }).fill('ops');
    await page.getByRole('checkbox', { name: /^Manage/ }).check();
    await page.getByRole('checkbox', { name: /^Admin/ }).check();
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = await page.getByRole('textbox', { name: 'New token' }).inputValue();
    expect((await web.api.withToken(token).get('/api/v1/users')).status).toBe(200);
    await page.getByRole('button', { name: 'Done' }).click();
    await visible(page.getByRole('row', { name: /ops/ }).getByText('Admin', { exact: true }));
  });
});
