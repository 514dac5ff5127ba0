/**
 * Browser test of the MCP servers page: a user's URL to a private address is refused with the API's message; an
 * admin adds a Streamable HTTP server with a secret header, sees it running with its tools, turns a tool off, and
 * the edit form shows the header masked, never its value; another user sees the shared server and hides it.
 *
 * Needs /usr/bin/chromium (scripts/install-system-deps.sh) or CHROMIUM_PATH.
 */
import { randomBytes } from 'node:crypto';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registerUser } from '../helpers/api.js';
import { startMcpUpstream, type McpUpstream } from '../helpers/mcp-upstream.js';
import { axeSerious, heading, visible, useConsoleBrowser } from './browser.js';

const SECRET = `hdr-${randomBytes(8).toString('hex')}`;

describe('web console: MCP servers (browser)', () => {
  const web = useConsoleBrowser({ COMMANDS_ENABLED: 'false', UPSTREAM_HEALTH_INTERVAL_SECONDS: '60' });
  let admin: Awaited<ReturnType<typeof registerUser>>;
  let upstream: McpUpstream;

  beforeAll(async () => {
    admin = await registerUser(web.api, 'mcp-admin'); // the first account is the administrator
    const handler = createMcpHandler(() => {
      const s = new McpServer({ name: 'ui-upstream', version: '1.0.0' });
      for (const name of ['lookup', 'write'])
        s.registerTool(name, { description: `The ${name} tool`, inputSchema: z.object({}) }, () => ({
          content: [{ type: 'text', text: name }],
        }));
      return s;
    });
    upstream = await startMcpUpstream(handler);
  });
  afterAll(() => upstream?.close());

  async function serversPage(login: string, password: string): Promise<Page> {
    const page = await web.freshPage();
    await web.logIn(page, login, password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'MCP servers' }).click();
    await visible(heading(page, 'MCP servers'));
    return page;
  }

  async function addServer(page: Page, name: string, url: string, secrets?: string) {
    await page.getByRole('button', { name: 'Add a server' }).click();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('URL').fill(url);
    if (secrets) await page.getByLabel('Headers (secret)').fill(secrets);
    await page.getByRole('button', { name: 'Save' }).click();
  }

  it('lets an admin allow users private networks on the Admin page', async () => {
    const page = await web.freshPage();
    await web.logIn(page, 'mcp-admin', admin.password);
    await page.goto('/admin');
    await visible(heading(page, 'Admin'));
    await page.getByRole('switch', { name: "Allow users' servers on private networks" }).click();
    await expect
      .poll(async () => (await admin.api.get('/api/v1/admin/settings')).body.upstream_allow_private_networks)
      .toBe(true);
    const found = await axeSerious(page);
    expect(found, JSON.stringify(found)).toEqual([]);
    await admin.api.patch('/api/v1/admin/settings', { upstream_allow_private_networks: false });
  });

  it("refuses a user's URL to a private address, with the reason", async () => {
    const user = await registerUser(web.api, 'mcp-user');
    const page = await serversPage('mcp-user', user.password);
    await addServer(page, 'evil', 'https://169.254.169.254/latest');
    await visible(page.getByText(/loopback, link-local or private address/));
    expect((await user.api.get('/api/v1/mcp-servers')).body.items).toEqual([]);
  });

  it('adds a server with a secret header, shows it running with its tools, toggles a tool, masks the secret', async () => {
    const page = await serversPage('mcp-admin', admin.password);
    await addServer(page, 'ui', upstream.url, `x-key=${SECRET}`);
    await visible(page.getByText('running'));
    const write = page.getByRole('switch', { name: 'ui__write' });
    await visible(write);
    await write.click();
    await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
    const listed = async () => (await admin.api.get('/api/v1/mcp-servers')).body.items[0];
    await expect.poll(async () => (await listed()).tool_deny).toEqual(['write']);
    await page.getByRole('button', { name: 'Edit' }).click();
    const headers = page.getByLabel('Headers (secret)');
    await expect(headers.inputValue()).resolves.toBe('x-key=••••••••');
    expect(await page.content()).not.toContain(SECRET);
    expect(await axeSerious(page)).toEqual([]);
  });

  it('lets another user see a shared server and hide it from their tools', async () => {
    const shared = (await admin.api.get('/api/v1/mcp-servers')).body.items[0];
    expect(
      (await admin.api.request('PUT', `/api/v1/mcp-servers/${shared.id}`, { shared: true })).status,
    ).toBe(200);
    const other = await registerUser(web.api, 'mcp-other');
    const page = await serversPage('mcp-other', other.password);
    await page.getByRole('button', { name: 'Hide from my tools' }).click();
    await visible(page.getByRole('button', { name: 'Show in my tools' }));
    expect((await other.api.get(`/api/v1/mcp-servers/${shared.id}`)).body.hidden).toBe(true);
  });
});
