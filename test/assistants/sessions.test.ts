import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { ScriptedLlm } from '../helpers/scripted-llm.js';
import { assistantKey, createAssistant, createProvider, openAiClient, startLlm } from './fixtures.js';

let t: TestServer;
let llm: ScriptedLlm;
let ada: Awaited<ReturnType<typeof registerUser>>;
let eve: Awaited<ReturnType<typeof registerUser>>;
let client: OpenAI;
let assistant: any;

beforeAll(async () => {
  llm = await startLlm();
  t = await startTestServer({ COMMANDS_ENABLED: 'false' });
  ada = await registerUser(new Api(t.baseUrl), 'sessada');
  eve = await registerUser(new Api(t.baseUrl), 'sesseve');
  assistant = await createAssistant(ada.api, {
    name: 'memo',
    provider_id: await createProvider(ada.api, llm),
    skills: [],
  });
  client = openAiClient(t.baseUrl, (await assistantKey(ada.api)).token);
});
afterAll(async () => {
  await t?.close();
  await llm?.close();
});

const say = (content: string, session: string) =>
  client.chat.completions
    .create(
      { model: 'memo', messages: [{ role: 'user', content }] },
      { headers: { 'X-Skillport-Session': session } },
    )
    .withResponse();

describe('server-kept conversation sessions', () => {
  it('keeps the history: a client sends only its new message', async () => {
    const created = await ada.api.post('/api/v1/sessions', { assistant_id: assistant.id });
    expect(created.status).toBe(201);
    const id = created.body.id;
    llm.script({ content: 'Hello Ada.' });
    const first = await say('Hi, I am Ada', id);
    expect(first.data.choices[0]!.message.content).toBe('Hello Ada.');
    expect(first.response.headers.get('x-skillport-session')).toBe(id);
    llm.script({
      expect: (body) =>
        expect(body.messages.map((m: any) => [m.role, m.content])).toEqual([
          ['user', 'Hi, I am Ada'],
          ['assistant', 'Hello Ada.'],
          ['user', 'What is my name?'],
        ]),
      content: 'Ada.',
    });
    expect((await say('What is my name?', id)).data.choices[0]!.message.content).toBe('Ada.');
    expect(llm.errors).toEqual([]);
    const read = await ada.api.get(`/api/v1/sessions/${id}`);
    expect(read.body).toMatchObject({ title: 'Hi, I am Ada', message_count: 4, busy: false });
    expect((await ada.api.get('/api/v1/sessions')).body.items.map((s: any) => s.id)).toContain(id);
  });

  it('starts a session with `new` and names it in the answer', async () => {
    llm.script({ content: 'started' });
    const res = await say('start', 'new');
    const id = res.response.headers.get('x-skillport-session');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await ada.api.get(`/api/v1/sessions/${id}`)).body.message_count).toBe(2);
  });

  it('runs one turn per session: a concurrent one gets 409 session_busy, not retried', async () => {
    const id = (await ada.api.post('/api/v1/sessions', { assistant_id: assistant.id })).body.id;
    llm.script({ content: 'slow', delayMs: 1_000 });
    const before = llm.requests.length;
    const slow = say('first', id);
    while (llm.requests.length === before) await new Promise((r) => setTimeout(r, 10));
    const busy = await say('second', id).catch((e) => e);
    expect(busy).toBeInstanceOf(OpenAI.ConflictError);
    expect(busy.code).toBe('session_busy');
    expect(busy.headers.get('x-should-retry')).toBe('false');
    expect((await slow).data.choices[0]!.message.content).toBe('slow');
    expect(llm.requests.length - before).toBe(1);
    // once the turn is over the session takes the next one
    llm.script({ content: 'next' });
    expect((await say('third', id)).data.choices[0]!.message.content).toBe('next');
  });

  it('hands a client tool call back and continues from only its result', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
      },
    ];
    llm.script({ tool_calls: [{ name: 'get_time', arguments: {} }] });
    const first = await client.chat.completions
      .create(
        { model: 'memo', tools, messages: [{ role: 'user', content: 'What time is it?' }] },
        { headers: { 'X-Skillport-Session': 'new' } },
      )
      .withResponse();
    const id = first.response.headers.get('x-skillport-session')!;
    const call = first.data.choices[0]!.message.tool_calls![0]!;
    expect(first.data.choices[0]!.finish_reason).toBe('tool_calls');
    llm.script({
      expect: (body) => expect(body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'tool']),
      respond: (body) => ({ content: `It is ${body.messages.at(-1).content}.` }),
    });
    const second = await client.chat.completions.create(
      { model: 'memo', tools, messages: [{ role: 'tool', tool_call_id: call.id, content: 'noon' }] },
      { headers: { 'X-Skillport-Session': id } },
    );
    expect(second.choices[0]!.message.content).toBe('It is noon.');
    expect(llm.errors).toEqual([]);
  });

  it("keeps sessions private: another user's id answers like a missing one", async () => {
    const id = (await ada.api.post('/api/v1/sessions', { assistant_id: assistant.id })).body.id;
    expect((await eve.api.get(`/api/v1/sessions/${id}`)).status).toBe(404);
    expect((await eve.api.delete(`/api/v1/sessions/${id}`)).status).toBe(404);
    expect((await eve.api.post('/api/v1/sessions', { assistant_id: assistant.id })).status).toBe(404);
    expect((await ada.api.delete(`/api/v1/sessions/${id}`)).status).toBe(204);
    const gone = await say('hello?', id).catch((e) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
