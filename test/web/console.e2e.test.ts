/**
 * Browser tests of the web console: Debian's Chromium driven by playwright-core against the real server
 * (temporary embedded database) serving the built SPA. Screenshots of the main pages at desktop and phone
 * widths land in test-results/screenshots/.
 *
 * Needs /usr/bin/chromium (scripts/install-system-deps.sh) or CHROMIUM_PATH.
 */
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Page } from 'playwright-core';
import yazl from 'yazl';
import { describe, expect, it } from 'vitest';
import {
  DESKTOP,
  PHONE,
  SHOTS,
  heading,
  hidden,
  shoot,
  skillZip,
  visible,
  useConsoleBrowser,
} from './browser.js';

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Connects to /mcp with the token like a real client; returns the tool names and what load_skill_metadata says. */
async function mcpSkillMetadata(baseUrl: string, token: string): Promise<{ tools: string[]; text: string }> {
  const client = new Client({ name: 'skillport-console-e2e', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    const result = await client.callTool({ name: 'load_skill_metadata', arguments: {} });
    const content = (result.content ?? []) as { type: string; text?: string }[];
    const text = content.map((c) => (c.type === 'text' ? (c.text ?? '') : '')).join('\n');
    return { tools: tools.map((t) => t.name), text };
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------------

describe('web console (browser)', () => {
  const web = useConsoleBrowser();
  let page: Page;

  it('main journey: sign up, upload, token + MCP, new version, rollback, delete skill, delete account', async () => {
    page = await web.freshPage();
    const username = 'e2e-alice';
    const password = 'correct horse battery staple 42';
    const skill = 'e2e-demo';

    // --- sign up (anonymous visitors land on the login page)
    await page.goto('/');
    await page.waitForURL('**/login');
    await visible(heading(page, 'Log in'));
    await shoot(page, 'login');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await visible(heading(page, 'Create your account'));
    await shoot(page, 'signup');
    await page.getByLabel('Email').fill('alice@example.com');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();

    // --- empty library
    await visible(heading(page, 'Skills'));
    await visible(page.getByText('No skills yet'));
    await shoot(page, 'skills-empty');

    // --- upload a skill zip
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Upload', exact: true })
      .click();
    await visible(heading(page, 'Upload a skill'));
    await page.getByLabel('Skill archive (.zip or .skill)').setInputFiles({
      name: `${skill}.skill`,
      mimeType: 'application/zip',
      buffer: await skillZip(skill, 'v1', 'First version of the instructions.'),
    });
    await visible(page.getByText(`${skill}.skill`, { exact: true }));
    await shoot(page, 'upload');
    await page.getByRole('button', { name: 'Upload skill' }).click();

    // --- skill detail: metadata, files, rendered SKILL.md with raw HTML escaped
    await page.waitForURL(`**/skills/${skill}`);
    await visible(heading(page, skill));
    const rendered = page.locator('article.markdown');
    await visible(rendered.getByRole('heading', { name: 'Demo instructions' }));
    await visible(rendered.getByText('First version of the instructions.'));
    await visible(rendered.getByText('<script>window.__pwned = true</script>'));
    expect(await rendered.locator('script').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __pwned?: boolean }).__pwned)).toBeUndefined();
    await visible(page.getByRole('button', { name: 'hello.py' }));
    await visible(page.getByRole('region', { name: 'Details' }).getByText('Apache-2.0'));
    await shoot(page, 'skill-detail');

    // the current version downloads as a zip (an authenticated fetch handed to the browser)
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download', exact: true }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${skill}-v1.zip`);
    const zipped = await download.createReadStream();
    const bytes: Buffer[] = [];
    for await (const c of zipped) bytes.push(c as Buffer);
    expect(Buffer.concat(bytes).subarray(0, 2).toString()).toBe('PK');

    // a relative link opens the linked file of the skill in the viewer
    await rendered.getByRole('link', { name: 'the notes' }).click();
    await visible(page.getByRole('heading', { name: 'Reference v1' }));
    expect(new URL(page.url()).pathname).toBe(`/skills/${skill}`);

    // a script file opens in the source viewer
    await page.getByRole('button', { name: 'hello.py' }).click();
    await visible(page.getByLabel('Contents of scripts/hello.py'));
    await page.getByRole('button', { name: 'SKILL.md' }).click();
    await visible(rendered.getByRole('heading', { name: 'Demo instructions' }));

    // --- it shows up in the list, and search finds it
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Skills', exact: true })
      .click();
    await visible(heading(page, 'Skills'));
    await visible(page.getByRole('link', { name: skill }));
    await page.getByRole('searchbox', { name: 'Search skills' }).fill('demo');
    await page.waitForURL(/[?&]q=demo/);
    // Found twice: in the best matches (hybrid search) and in the filtered list below them.
    await visible(page.getByRole('region', { name: 'Best matches' }).getByRole('link', { name: skill }));
    await visible(page.getByRole('link', { name: skill }).last());
    await shoot(page, 'skills-list');
    await page.getByRole('searchbox', { name: 'Search skills' }).fill('zzzz-nothing-matches');
    await visible(page.getByText('No skills match'));
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await visible(page.getByRole('link', { name: skill }));

    // phone navigation collapses behind a menu button
    await page.setViewportSize(PHONE);
    const menu = page.getByRole('button', { name: 'Menu' });
    await visible(menu);
    expect(await menu.getAttribute('aria-expanded')).toBe('false');
    await menu.click();
    await visible(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }));
    await page.screenshot({
      path: path.join(SHOTS, 'nav-open-phone.png'),
      style: '.toaster{display:none!important}',
    });
    await page.keyboard.press('Escape');
    await hidden(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }));
    await page.setViewportSize(DESKTOP);

    // --- create a token: shown once, with a copy button
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
    await visible(heading(page, 'API tokens'));
    await visible(page.getByText('No tokens yet'));
    await shoot(page, 'tokens-empty');
    await page.getByLabel('Name', { exact: true }).fill('e2e laptop');
    await page.getByRole('button', { name: 'Create token' }).click();
    const tokenBox = page.getByRole('textbox', { name: 'New token' });
    await visible(tokenBox);
    const token = await tokenBox.inputValue();
    expect(token.length).toBeGreaterThan(20);
    await visible(page.getByRole('button', { name: 'Copy token' }));
    await visible(page.getByText('this is the only time it is shown'));
    await visible(page.getByRole('row', { name: /e2e laptop/ }));
    await shoot(page, 'token-created');

    // --- that token works on /mcp: load_skill_metadata lists the skill
    const mcp = await mcpSkillMetadata(web.server.baseUrl, token);
    expect(mcp.tools).toContain('load_skill_metadata');
    expect(mcp.text).toContain(`- ${skill}: Demo skill for the console browser test (v1)`);

    // --- connect page: configs filled with the server URL and the fresh token
    await page.getByRole('link', { name: 'Set up a client with it' }).click();
    await visible(heading(page, 'Connect a client'));
    const mcpUrl = `${web.server.baseUrl}/mcp`;
    await visible(
      page.getByText(
        `claude mcp add --transport http skillport ${mcpUrl} --header "Authorization: Bearer ${token}"`,
      ),
    );
    await page.getByRole('tab', { name: 'Cursor' }).click();
    await visible(page.getByRole('tabpanel').getByText('"mcpServers"'));
    await page.getByRole('tab', { name: 'Cursor' }).press('ArrowRight');
    expect(await page.getByRole('tab', { name: 'VS Code' }).getAttribute('aria-selected')).toBe('true');
    await visible(page.getByRole('tabpanel').getByText('"type": "http"'));
    await page.getByRole('tab', { name: 'Claude Code' }).click();
    await page.getByLabel('Token to insert').fill('');
    await shoot(page, 'connect');

    // the plaintext token is gone after leaving the page (shown once)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
    await visible(page.getByRole('row', { name: /e2e laptop/ }));
    expect(await page.content()).not.toContain(token);
    // a reload keeps the session (refresh token in localStorage, new access token in memory)
    await page.reload();
    await visible(heading(page, 'API tokens'));
    await visible(page.getByRole('row', { name: /e2e laptop/ }));
    expect(await page.content()).not.toContain(token);
    await shoot(page, 'tokens');

    // --- upload a second version from the skill page
    await page.goto(`/skills/${skill}`);
    await visible(heading(page, skill));
    await page.getByLabel('Skill archive (.zip or .skill)').setInputFiles({
      name: `${skill}-v2.zip`,
      mimeType: 'application/zip',
      buffer: await skillZip(skill, 'v2', 'Second version of the instructions.'),
    });
    await page.getByRole('button', { name: 'Upload new version' }).click();
    const versions = page.getByRole('region', { name: 'Versions' });
    const v1 = versions.getByRole('listitem').filter({ hasText: 'Version 1' });
    const v2 = versions.getByRole('listitem').filter({ hasText: 'Version 2' });
    await visible(v2.getByText('Current'));
    await visible(rendered.getByText('Second version of the instructions.'));
    await shoot(page, 'skill-versions');

    // --- roll back to version 1
    await versions.getByRole('button', { name: 'Roll back to version 1' }).click();
    await visible(v1.getByText('Current'));
    await hidden(v2.getByText('Current'));
    await visible(rendered.getByText('First version of the instructions.'));

    // --- audit log and account pages (screenshots)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Activity' }).click();
    await visible(heading(page, 'Activity'));
    await visible(page.getByRole('table'));
    await shoot(page, 'activity');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
    await visible(heading(page, 'Admin'));
    await visible(page.getByRole('cell', { name: /e2e-alice/ }));
    await visible(page.getByRole('switch', { name: `Share ${skill}` }));
    await shoot(page, 'admin');

    // --- delete the skill (with confirmation)
    await page.goto(`/skills/${skill}`);
    await visible(heading(page, skill));
    await page.getByRole('button', { name: 'Delete skill' }).click();
    const dialog = page.getByRole('dialog', { name: `Delete ${skill}?` });
    await visible(dialog);
    await shoot(page, 'skill-delete-dialog', { fullPage: false });
    await dialog.getByRole('button', { name: 'Delete skill' }).click();
    await visible(heading(page, 'Skills'));
    await visible(page.getByText('No skills yet'));

    // --- delete the account (password + confirmation)
    await page.getByRole('link', { name: /Account/ }).click();
    await visible(heading(page, 'Account'));
    await shoot(page, 'account');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Delete my account…' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete your account?' });
    await confirm.getByRole('button', { name: 'Delete account' }).click();
    await visible(heading(page, 'Log in'));
    await visible(page.getByText('Your account was deleted.'));

    // the account is really gone
    const res = await fetch(`${web.server.baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login: username, password }),
    });
    expect(res.status).toBe(401);
  }, 180_000);

  it('error journey: wrong password on login, broken zip next to the upload control', async () => {
    page = await web.freshPage();
    const password = 'another long passphrase 7';
    const reg = await fetch(`${web.server.baseUrl}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bob@example.com', username: 'e2e-bob', password }),
    });
    expect(reg.status).toBe(201);

    // --- wrong password
    await page.goto('/skills/new');
    await page.waitForURL(/\/login\?next=/);
    await page.getByLabel('Email or username').fill('e2e-bob');
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Log in' }).click();
    const loginError = page.getByRole('alert').filter({ hasText: /invalid|incorrect|wrong/i });
    await visible(loginError);
    await shoot(page, 'login-error');

    // --- right password: back to where we were going
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(heading(page, 'Upload a skill'));

    // --- a broken zip: the API's error shows right under the upload control
    const fileInput = page.getByLabel('Skill archive (.zip or .skill)');
    await fileInput.setInputFiles({
      name: 'broken.zip',
      mimeType: 'application/zip',
      buffer: Buffer.from('PK\u0003\u0004 this is not really a zip archive'),
    });
    await page.getByRole('button', { name: 'Upload skill' }).click();
    const uploader = page.getByRole('group', { name: 'Upload a skill' });
    const uploadError = uploader.getByRole('alert');
    await visible(uploadError);
    expect(await uploadError.textContent()).toMatch(/archive|zip/i);
    await shoot(page, 'upload-error');

    // a zip without SKILL.md lists the problems
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from('just notes'), 'notes/readme.txt');
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream) chunks.push(c as Buffer);
    await fileInput.setInputFiles({
      name: 'no-skill.zip',
      mimeType: 'application/zip',
      buffer: Buffer.concat(chunks),
    });
    await page.getByRole('button', { name: 'Upload skill' }).click();
    await visible(uploader.getByRole('alert').filter({ hasText: /SKILL\.md/ }));
  }, 120_000);
});
