/**
 * Browser test of the Assistants page and the chat playground: add a provider, create an assistant, chat with
 * it, and watch the server's tool step (name, arguments, result, duration) and the streamed answer. The model is
 * the scripted provider of the API tests. Needs /usr/bin/chromium (scripts/install-system-deps.sh) or CHROMIUM_PATH.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser } from '../helpers/api.js';
import { ScriptedLlm } from '../helpers/scripted-llm.js';
import { skillZip } from '../helpers/zips.js';
import type { Page } from 'playwright-core';
import { DESKTOP, PHONE, axeSerious, heading, visible, useConsoleBrowser } from './browser.js';

/** axe's serious and critical findings on the page as it stands, at the desktop and the phone width. */
async function axeAtBothWidths(page: Page) {
  const desktop = await axeSerious(page);
  await page.setViewportSize(PHONE);
  const phone = await axeSerious(page);
  await page.setViewportSize(DESKTOP);
  return { desktop, phone };
}
const CLEAN = { desktop: [], phone: [] };

describe('web console: assistants and the chat playground (browser)', () => {
  const web = useConsoleBrowser({ COMMANDS_ENABLED: 'false' });
  let llm: ScriptedLlm;
  let admin: Awaited<ReturnType<typeof registerUser>>;

  beforeAll(async () => {
    llm = await new ScriptedLlm().start();
    admin = await registerUser(web.api, 'asst-admin');
    expect(
      (await admin.api.post('/api/v1/skills', await skillZip('recipes', 'Cooking recipes'))).status,
    ).toBe(201);
  });
  afterAll(async () => {
    await llm?.close();
  });

  it('adds a provider, creates an assistant, and shows its tool steps while the answer streams', async () => {
    const page = await web.freshPage();
    await web.logIn(page, 'asst-admin', admin.password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Assistants' }).click();
    await visible(heading(page, 'Assistants'));

    await page.getByLabel('Name', { exact: true }).fill('scripted');
    await page.getByLabel('Base URL').fill(llm.url);
    await page.getByLabel('API key').fill('sk-browser-test');
    await page.getByRole('button', { name: 'Add provider' }).click();
    await page.getByRole('button', { name: 'Check' }).click();
    await visible(page.getByText('OK: scripted-1'));

    await page.getByRole('button', { name: 'New assistant' }).click();
    await page.getByLabel('Name (the model id)').fill('chef');
    await page.getByLabel('Model', { exact: true }).fill('scripted-1');
    await page.getByLabel('System prompt').fill('You cook.');
    await page.getByRole('button', { name: 'Create assistant' }).click();
    await visible(page.getByText('chef', { exact: true }));
    const listed = (await admin.api.get('/api/v1/assistants')).body.items;
    expect(listed).toEqual([
      expect.objectContaining({ name: 'chef', model: 'scripted-1', system_prompt: 'You cook.' }),
    ]);
    // a provider and an assistant on screen
    await expect(axeAtBothWidths(page)).resolves.toEqual(CLEAN);

    llm.script(
      { tool_calls: [{ name: 'load_skill_metadata', arguments: {} }] },
      { content: 'Try the recipes skill for dinner.', chunkSize: 3 },
    );
    await page.getByRole('link', { name: 'Chat' }).click();
    await visible(heading(page, 'Chat with chef'));
    await page.getByRole('textbox', { name: 'Message' }).fill('What can you do?');
    await page.getByRole('button', { name: 'Send' }).click();
    await visible(page.getByText('Try the recipes skill for dinner.'));
    const step = page.locator('details.tool-step');
    await expect(step.locator('summary').textContent()).resolves.toMatch(/^load_skill_metadata · \d+ ms$/);
    await step.locator('summary').click();
    await visible(step.getByText(/- recipes: Cooking recipes/));
    // the playground with a streamed answer and an opened tool step
    await expect(axeAtBothWidths(page)).resolves.toEqual(CLEAN);
    expect(llm.requests.at(-1)!.body.messages[0]).toEqual({ role: 'system', content: 'You cook.' });
  });

  it('lets the admin allow users their own providers', async () => {
    const page = await web.freshPage();
    await web.logIn(page, 'asst-admin', admin.password);
    await page.goto('/admin');
    const toggle = page.getByRole('switch', { name: 'Users may add their own model providers' });
    await expect(toggle.isChecked()).resolves.toBe(false);
    await toggle.click();
    await visible(page.getByText('Users may add providers'));
    expect((await admin.api.get('/api/v1/admin/settings')).body.user_model_providers).toBe(true);
  });

  it('lists conversation sessions and deletes one', async () => {
    const chef = (await admin.api.get('/api/v1/assistants')).body.items[0];
    const created = await admin.api.post('/api/v1/sessions', { assistant_id: chef.id });
    expect(created.status).toBe(201);
    const page = await web.freshPage();
    await web.logIn(page, 'asst-admin', admin.password);
    await page.goto('/assistants');
    const row = page.getByRole('listitem').filter({ hasText: created.body.id });
    await visible(row);
    await expect(row.textContent()).resolves.toContain('chef · 0 messages');
    // a session listed
    await expect(axeAtBothWidths(page)).resolves.toEqual(CLEAN);
    await row.getByRole('button', { name: 'Delete' }).click();
    await visible(page.getByText('No sessions.', { exact: false }));
    expect((await admin.api.get(`/api/v1/sessions/${created.body.id}`)).status).toBe(404);
  });
});
