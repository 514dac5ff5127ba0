import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../src/db/index.js';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { ScriptedLlm } from '../helpers/scripted-llm.js';
import { skillZip } from '../helpers/zips.js';
import { assistantKey, createAssistant, createProvider, openAiClient, startLlm } from './fixtures.js';

let t: TestServer;
let llm: ScriptedLlm;
let admin: Awaited<ReturnType<typeof registerUser>>;
let user: Awaited<ReturnType<typeof registerUser>>;

beforeAll(async () => {
  llm = await startLlm();
  t = await startTestServer({
    COMMANDS_ENABLED: 'false',
    OPENAI_API_KEY: 'sk-env-key-value',
    OPENAI_BASE_URL: llm.url,
  });
  admin = await registerUser(new Api(t.baseUrl), 'provadmin');
  user = await registerUser(new Api(t.baseUrl), 'provuser');
});
afterAll(async () => {
  await t?.close();
  await llm?.close();
});

describe('model providers', () => {
  it('gives a default provider from OPENAI_API_KEY with no console step', async () => {
    const list = await user.api.get('/api/v1/providers');
    expect(list.body.items).toEqual([
      expect.objectContaining({ id: 'env', scope: 'environment', api_key: '••••••••' }),
    ]);
    await createAssistant(user.api, { name: 'env-bot', skills: [] }); // no provider_id: the environment's
    llm.script({ content: 'from env' });
    const client = openAiClient(t.baseUrl, (await assistantKey(user.api)).token);
    const answer = await client.chat.completions.create({
      model: 'env-bot',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(answer.choices[0]!.message.content).toBe('from env');
    expect(llm.requests.at(-1)!.headers.authorization).toBe('Bearer sk-env-key-value');
  });

  it('checks connectivity and lists the models', async () => {
    const id = await createProvider(admin.api, llm);
    const check = await admin.api.post(`/api/v1/providers/${id}/check`);
    expect(check.body).toEqual({ ok: true, models: ['scripted-1'], error: null });
    await llm.close();
    const down = await admin.api.post(`/api/v1/providers/${id}/check`);
    expect(down.body.ok).toBe(false);
    expect(down.body.error).toBeTruthy();
    llm = await startLlm();
  });

  it('lets users configure their own only when admins allow it, SSRF-guarded and private', async () => {
    const body = {
      name: 'mine',
      kind: 'openai-compatible',
      base_url: 'http://93.184.216.34/v1',
      api_key: 'sk-user',
    };
    expect((await user.api.post('/api/v1/providers', body)).status).toBe(403);
    expect((await user.api.post('/api/v1/providers', { ...body, global: true })).status).toBe(403);
    expect((await admin.api.patch('/api/v1/admin/settings', { user_model_providers: true })).status).toBe(
      200,
    );
    for (const base_url of [
      'http://127.0.0.1:9/v1',
      'http://169.254.169.254/latest',
      'http://[::1]/v1',
      'http://10.1.2.3/v1',
      'file:///etc/passwd',
    ]) {
      const refused = await user.api.post('/api/v1/providers', { ...body, base_url });
      expect(refused.status, base_url).toBe(400);
    }
    const mine = await user.api.post('/api/v1/providers', body);
    expect(mine.status).toBe(201);
    expect(mine.body).toMatchObject({ scope: 'own', api_key: '••••••••' });
    expect((await admin.api.get(`/api/v1/providers/${mine.body.id}`)).status).toBe(404);
    const adminAssistant = await admin.api.post('/api/v1/assistants', {
      name: 'stolen',
      model: 'm',
      provider_id: mine.body.id,
    });
    expect(adminAssistant.status).toBe(400);
    // admins may point their providers at local servers (Ollama, vLLM on the host)
    expect(
      (await admin.api.post('/api/v1/providers', { ...body, base_url: 'http://127.0.0.1:11434/v1' })).status,
    ).toBe(201);
  });

  it('keeps the key sealed at rest', async () => {
    const id = await createProvider(admin.api, llm);
    const [row] = await t.server.ctx.db.db
      .select({ apiKey: tables.modelProviders.apiKey })
      .from(tables.modelProviders)
      .where(eq(tables.modelProviders.id, id));
    const stored = row!.apiKey!;
    expect(stored).toMatch(/^v1\./);
    expect(stored).not.toContain('sk-provider-secret-value');
  });

  it("runs the tool loop on Anthropic's Messages API", async () => {
    expect((await admin.api.post('/api/v1/skills', await skillZip('notes', 'Keeps notes'))).status).toBe(201);
    const providerId = await createProvider(admin.api, llm, 'anthropic');
    await createAssistant(admin.api, {
      name: 'claude-bot',
      provider_id: providerId,
      model: 'claude-test',
      system_prompt: 'Be brief.',
    });
    llm.script(
      { tool_calls: [{ name: 'load_skill_metadata', arguments: {} }] },
      {
        respond: (body) => {
          const result = body.messages.at(-1).content.find((b: any) => b.type === 'tool_result');
          return { content: `Skills: ${JSON.stringify(result.content)}` };
        },
      },
    );
    const client = openAiClient(t.baseUrl, (await assistantKey(admin.api)).token);
    const stream = await client.chat.completions.create({
      model: 'claude-bot',
      stream: true,
      seed: 7, // not an Anthropic setting: the provider warns, and the warning goes to the server log
      messages: [{ role: 'user', content: 'which skills?' }],
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toContain('notes: Keeps notes');
    const sent = llm.requests.at(-2)!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe('sk-provider-secret-value');
    expect(sent.body.system).toEqual([expect.objectContaining({ text: 'Be brief.' })]);
    const warnings = t.logs.filter((l) => l.includes('model provider warning')).map((l) => JSON.parse(l));
    expect(warnings[0]?.ai_sdk).toMatchObject({
      provider: 'anthropic.messages',
      warnings: expect.arrayContaining([{ type: 'unsupported', feature: 'seed' }]),
    });
  });
});
