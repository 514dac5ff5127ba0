import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';
import type { ScriptedLlm } from '../helpers/scripted-llm.js';
import { assistantKey, createAssistant, createProvider, openAiClient, startLlm } from './fixtures.js';

let t: TestServer;
let llm: ScriptedLlm;
let admin: Awaited<ReturnType<typeof registerUser>>;
let client: OpenAI;

beforeAll(async () => {
  llm = await startLlm();
  t = await startTestServer({ COMMANDS_ENABLED: 'false' });
  admin = await registerUser(new Api(t.baseUrl), 'chatadmin');
  const providerId = await createProvider(admin.api, llm);
  await createAssistant(admin.api, {
    name: 'helper',
    description: 'Helps',
    provider_id: providerId,
    system_prompt: 'You are the helper.',
    skills: [],
  });
  client = openAiClient(t.baseUrl, (await assistantKey(admin.api)).token);
});
afterAll(async () => {
  await t?.close();
  await llm?.close();
});

describe('the OpenAI-compatible API, driven by the openai SDK', () => {
  it('lists the assistant as a model', async () => {
    const models = [];
    for await (const m of client.models.list()) models.push(m);
    expect(models.map((m) => m.id)).toEqual(['helper']);
    expect(models[0]).toMatchObject({ object: 'model', id: 'helper' });
    expect((await client.models.retrieve('helper')).id).toBe('helper');
  });

  it('answers without streaming, with the system prompt prepended and usage counted', async () => {
    llm.script({ content: 'Hello there.', usage: { prompt: 12, completion: 3 } });
    const answer = await client.chat.completions.create({
      model: 'helper',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(answer.choices[0]!.message.content).toBe('Hello there.');
    expect(answer.choices[0]!.finish_reason).toBe('stop');
    expect(answer.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
    const sent = llm.requests.at(-1)!.body;
    expect(sent.messages[0]).toEqual({ role: 'system', content: 'You are the helper.' });
    expect(sent.messages[1]).toEqual({ role: 'user', content: 'Hi' });
    expect(sent.model).toBe('scripted-1');
    expect(llm.requests.at(-1)!.headers.authorization).toBe('Bearer sk-provider-secret-value');
  });

  it('streams role, content deltas, finish_reason, usage and [DONE]', async () => {
    llm.script({ content: 'Streaming works fine.', chunkSize: 5, usage: { prompt: 7, completion: 4 } });
    const stream = await client.chat.completions.create({
      model: 'helper',
      messages: [{ role: 'user', content: 'Stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Streaming works fine.');
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThan(1);
    expect(chunks.find((c) => c.choices[0]?.finish_reason)!.choices[0]!.finish_reason).toBe('stop');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('ends the raw stream with data: [DONE]', async () => {
    llm.script({ content: 'raw' });
    const res = await fetch(`${t.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'helper', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const body = await res.text();
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('records usage per key and per assistant, visible in the API and in metrics', async () => {
    const list = await admin.api.get('/api/v1/assistants');
    const id = list.body.items[0].id;
    // Usage is written after the answer left; wait for it with a deadline.
    const deadline = Date.now() + 5_000;
    let total = 0;
    while (total < 12 + 7 + 10 && Date.now() < deadline) {
      const usage = await admin.api.get(`/api/v1/assistants/${id}/usage`);
      expect(usage.status).toBe(200);
      total = usage.body.items.reduce((n: number, u: any) => n + u.prompt_tokens, 0);
    }
    expect(total).toBe(12 + 7 + 10); // the two turns above and the raw stream's default usage
    const metrics = await admin.api.get('/metrics');
    expect(metrics.text).toMatch(/skillport_assistant_tokens_total\{assistant="helper",kind="prompt"\} \d+/);
  });

  it('answers errors in OpenAI shape: unknown model 404, bad key 401, bad input 400', async () => {
    const missing = await client.chat.completions
      .create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.code).toBe('model_not_found');
    const badKey = await openAiClient(t.baseUrl, 'ask_live_' + '0'.repeat(64))
      .models.list()
      .catch((e) => e);
    expect(badKey).toBeInstanceOf(OpenAI.AuthenticationError);
    const bad = await client.chat.completions.create({ model: 'helper', messages: [] }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.error.type).toBe('invalid_request_error');
    expect(bad.param).toBe('messages');
  });

  it('reports a failing provider as 502 that the SDK may retry (no tool ran)', async () => {
    llm.script({ status: 500 }, { status: 500 }, { content: 'third time lucky' });
    const before = llm.requests.length;
    const answer = await client.chat.completions.create({
      model: 'helper',
      messages: [{ role: 'user', content: 'retry me' }],
    });
    expect(answer.choices[0]!.message.content).toBe('third time lucky');
    expect(llm.requests.length - before).toBe(3);
  });

  it('ends a stream that already started with an OpenAI error event, which the SDK raises', async () => {
    await admin.api.post('/api/v1/skills', await skillZip('notes', 'Notes'));
    const list = await admin.api.get('/api/v1/assistants');
    await admin.api.patch(`/api/v1/assistants/${list.body.items[0].id}`, { skills: 'all' });
    llm.script(
      { content: 'Let me look.', tool_calls: [{ name: 'load_skill_metadata', arguments: {} }] },
      { status: 500 },
    );
    const stream = await client.chat.completions.create({
      model: 'helper',
      stream: true,
      messages: [{ role: 'user', content: 'fails later' }],
    });
    let text = '';
    const err = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e) => e);
    expect(text).toBe('Let me look.');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.message).toMatch(/provider answered 500/);
  });

  it('never shows the provider key', async () => {
    const providers = await admin.api.get('/api/v1/providers');
    expect(providers.text).not.toContain('sk-provider-secret-value');
    expect(providers.body.items[0].api_key).toBe('••••••••');
    expect(t.logs.join('\n')).not.toContain('sk-provider-secret-value');
  });
});
