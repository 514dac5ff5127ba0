import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { ScriptedLlm } from '../helpers/scripted-llm.js';
import { skillZip } from '../helpers/zips.js';
import { assistantKey, createAssistant, createProvider, openAiClient, startLlm } from './fixtures.js';
import { until } from '../helpers/until.js';

// A pdf-like skill: instructions, a reference file and scripts, run for real in the sandbox.
const PDF_FILES = [
  { path: 'reference.md', data: '# Reference\n\nPage sizes: A4 is 210x297 mm (REF-MARKER-42).\n' },
  {
    path: 'scripts/extract.py',
    data: 'import sys\nprint("extracted text of", sys.argv[1], "=", sum(range(10)))\n',
    mode: 0o100755,
  },
  { path: 'scripts/wait.sh', data: '#!/bin/bash\nsleep "$1"\necho waited\n', mode: 0o100755 },
];

let t: TestServer;
let llm: ScriptedLlm;
let alice: Awaited<ReturnType<typeof registerUser>>;
let bob: Awaited<ReturnType<typeof registerUser>>;
let aliceClient: OpenAI;
let toolAssistant: any;

/** The text of the tool messages in a request the model received, in order. */
const toolTexts = (body: any): string[] =>
  body.messages.filter((m: any) => m.role === 'tool').map((m: any) => String(m.content));

beforeAll(async () => {
  llm = await startLlm();
  t = await startTestServer({ COMMAND_TIMEOUT: '60' });
  const anon = new Api(t.baseUrl);
  alice = await registerUser(anon, 'toolalice'); // first user: the admin
  bob = await registerUser(anon, 'toolbob');
  expect(
    (
      await alice.api.post(
        '/api/v1/skills',
        await skillZip('pdfkit', 'Extract text from PDF files', PDF_FILES),
      )
    ).status,
  ).toBe(201);
  expect(
    (
      await bob.api.post(
        '/api/v1/skills',
        await skillZip('bob-secret', 'Bob only', [{ path: 'secret.txt', data: 'BOB-SECRET-MARKER' }]),
      )
    ).status,
  ).toBe(201);
  const providerId = await createProvider(alice.api, llm);
  toolAssistant = await createAssistant(alice.api, {
    name: 'pdf-helper',
    provider_id: providerId,
    system_prompt: 'Use skills.',
    skills: 'all',
    run_scripts: true,
    max_steps: 8,
  });
  aliceClient = openAiClient(t.baseUrl, (await assistantKey(alice.api)).token);
});
afterAll(async () => {
  await t?.close();
  await llm?.close();
});

describe('the server-side tool loop', () => {
  it('runs load_skill_metadata, load_skill, read_reference_file and run_shell_command on a real skill', async () => {
    llm.script(
      {
        tool_calls: [{ name: 'load_skill_metadata', arguments: {} }],
        expect: (body) => {
          const names = body.tools.map((tool: any) => tool.function.name).sort();
          expect(names).toEqual([
            'load_skill',
            'load_skill_metadata',
            'read_reference_file',
            'run_shell_command',
            'search_skills',
            // The search meta-tool over what the assistant may reach (its skills and, with a connector, its tools).
            'search_tools',
          ]);
        },
      },
      { tool_calls: [{ name: 'load_skill', arguments: { skill_name: 'pdfkit' } }] },
      {
        tool_calls: [
          { name: 'read_reference_file', arguments: { skill_name: 'pdfkit', file_name: 'reference.md' } },
        ],
      },
      {
        tool_calls: [
          {
            name: 'run_shell_command',
            arguments: { skill_name: 'pdfkit', command: 'python3 scripts/extract.py report.pdf' },
          },
        ],
      },
      { respond: (body) => ({ content: `Results:\n${toolTexts(body).join('\n---\n')}` }) },
    );
    const answer = await aliceClient.chat.completions.create({
      model: 'pdf-helper',
      messages: [{ role: 'user', content: 'Extract report.pdf' }],
    });
    const text = answer.choices[0]!.message.content!;
    expect(text).toContain('- pdfkit: Extract text from PDF files');
    expect(text).toContain('# pdfkit'); // the SKILL.md body
    expect(text).toContain('REF-MARKER-42');
    expect(text).toContain('extracted text of report.pdf = 45');
    expect(text).not.toContain('bob-secret');
    expect(answer.choices[0]!.finish_reason).toBe('stop');
    expect(answer.choices[0]!.message.tool_calls).toBeUndefined();
    expect(llm.errors).toEqual([]);
  });

  it('shows the tool steps to a client that asks, in the stream and in the completion', async () => {
    llm.script({ tool_calls: [{ name: 'load_skill_metadata', arguments: {} }] }, { content: 'done' });
    const res = await fetch(`${t.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceClient.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'pdf-helper',
        stream: true,
        stream_options: { x_skillport_tool_events: true },
        messages: [{ role: 'user', content: 'list' }],
      }),
    });
    const events = (await res.text())
      .split('\n\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)))
      .filter((c) => c.skillport)
      .map((c) => c.skillport.tool_event);
    expect(events.map((e) => e.phase)).toEqual(['start', 'end']);
    expect(events[1]).toMatchObject({ name: 'load_skill_metadata', is_error: false });
    expect(events[1].result).toContain('pdfkit');
    expect(events[1].duration_ms).toBeGreaterThanOrEqual(0);

    llm.script(
      { tool_calls: [{ name: 'load_skill', arguments: { skill_name: 'pdfkit' } }] },
      { content: 'ok' },
    );
    const plain = await new Api(t.baseUrl, aliceClient.apiKey as string).post(
      '/v1/chat/completions',
      { model: 'pdf-helper', messages: [{ role: 'user', content: 'load' }] },
      { 'x-skillport-tool-events': 'true' },
    );
    expect(plain.body.skillport.tool_steps).toEqual([
      expect.objectContaining({ name: 'load_skill', arguments: { skill_name: 'pdfkit' }, is_error: false }),
    ]);
  });

  it('runs server tools and hands client tools back in mixed mode (openai runTools)', async () => {
    llm.script(
      {
        tool_calls: [
          { name: 'load_skill_metadata', arguments: {} },
          { name: 'get_location', arguments: {} },
        ],
      },
      {
        respond: (body) => {
          // The model sees its own server call and result spliced back, then the client's result.
          const assistantCalls = body.messages.find((m: any) => m.role === 'assistant').tool_calls;
          expect(assistantCalls.map((c: any) => c.function.name)).toEqual([
            'load_skill_metadata',
            'get_location',
          ]);
          const results = toolTexts(body);
          return {
            content: `You are in ${results.find((r) => r.includes('Berlin'))} with ${results.find((r) => r.includes('pdfkit')) ? 'pdfkit' : 'nothing'}`,
          };
        },
      },
    );
    const runner = aliceClient.chat.completions.runTools({
      model: 'pdf-helper',
      messages: [{ role: 'user', content: 'Where am I, and which skills do I have?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_location',
            description: "The user's city",
            parameters: { type: 'object', properties: {} },
            function: () => 'Berlin',
          },
        },
      ],
    });
    const final = await runner.finalContent();
    expect(final).toBe('You are in Berlin with pdfkit');
    expect(llm.errors).toEqual([]);
  });

  it('refuses a client tool named like a server tool', async () => {
    const err = await aliceClient.chat.completions
      .create({
        model: 'pdf-helper',
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ type: 'function', function: { name: 'load_skill', parameters: { type: 'object' } } }],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.code).toBe('tool_name_conflict');
  });

  it('ends at the step limit with finish_reason length and the usage of every step, streamed or not', async () => {
    const limited = await createAssistant(alice.api, {
      name: 'two-steps',
      provider_id: toolAssistant.provider_id,
      skills: 'all',
      max_steps: 2,
    });
    const loop = { tool_calls: [{ name: 'load_skill_metadata', arguments: {} }] };
    llm.script(loop, loop);
    const answer = await aliceClient.chat.completions.create({
      model: 'two-steps',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(answer.choices[0]!.finish_reason).toBe('length');
    expect(answer.usage).toEqual({ prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 });
    llm.script(loop, loop);
    const chunks = [];
    for await (const chunk of await aliceClient.chat.completions.create({
      model: 'two-steps',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
    }))
      chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['length']);
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 });
    expect(llm.remaining).toBe(0);
    expect((await alice.api.delete(`/api/v1/assistants/${limited.id}`)).status).toBe(204);
  });

  it('tells the model what was wrong with a call (a tool it does not have, arguments that are not JSON) and goes on', async () => {
    for (const stream of [false, true]) {
      let told: string[] = [];
      llm.script(
        {
          tool_calls: [
            { name: 'no_such_tool', arguments: {} },
            { name: 'load_skill', arguments: '{"skill_name": ' },
          ],
        },
        {
          respond: (body) => {
            told = toolTexts(body);
            return { content: 'Sorry.' };
          },
        },
      );
      const res = await fetch(`${t.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${aliceClient.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'pdf-helper', stream, messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('"finish_reason":"stop"');
      expect(told).toHaveLength(2);
      expect(told[0]).toMatch(/^Model tried to call unavailable tool 'no_such_tool'\. Available tools: /);
      expect(told[1]).toMatch(/^Invalid input for tool load_skill: JSON parsing failed: /);
    }
  });

  it('tells the client not to retry once a tool ran', async () => {
    llm.script({ tool_calls: [{ name: 'load_skill_metadata', arguments: {} }] }, { status: 500 });
    const before = llm.requests.length;
    const err = await aliceClient.chat.completions
      .create({ model: 'pdf-helper', messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.headers.get('x-should-retry')).toBe('false');
    expect(llm.requests.length - before).toBe(2); // no SDK retry re-ran the loop
  });
});

describe('isolation', () => {
  it('a key bound to assistant A neither lists nor calls assistant B', async () => {
    const other = await createAssistant(alice.api, {
      name: 'other-helper',
      provider_id: toolAssistant.provider_id,
      skills: [],
    });
    const bound = openAiClient(t.baseUrl, (await assistantKey(alice.api, [toolAssistant.id])).token, {
      maxRetries: 0,
    });
    const ids = [];
    for await (const m of bound.models.list()) ids.push(m.id);
    expect(ids).toEqual(['pdf-helper']);
    const err = await bound.chat.completions
      .create({ model: other.name, messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const unbound = [];
    for await (const m of aliceClient.models.list()) unbound.push(m.id);
    expect(unbound.sort()).toEqual(['other-helper', 'pdf-helper']);
  });

  it("another user's assistant looks missing, and a key cannot be bound to it", async () => {
    const bobClient = openAiClient(t.baseUrl, (await assistantKey(bob.api)).token, { maxRetries: 0 });
    const ids = [];
    for await (const m of bobClient.models.list()) ids.push(m.id);
    expect(ids).toEqual([]);
    const err = await bobClient.chat.completions
      .create({ model: 'pdf-helper', messages: [{ role: 'user', content: 'x' }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const res = await bob.api.post('/api/v1/api-keys', {
      name: 'sneaky',
      can_call_assistant: true,
      assistant_ids: [toolAssistant.id],
    });
    expect(res.status).toBe(400);
    const bobKey = await assistantKey(bob.api);
    const put = await bob.api.request('PUT', `/api/v1/api-keys/${bobKey.id}`, {
      assistant_ids: [toolAssistant.id],
    });
    expect(put.status).toBe(400);
    expect(
      (await bob.api.get('/api/v1/api-keys')).body.items.find((k: any) => k.id === bobKey.id).assistant_ids,
    ).toEqual([]);
  });

  it("an assistant reaches only its owner's skills, not another user's", async () => {
    const bobsOwn = await createAssistant(bob.api, {
      name: 'bob-bot',
      provider_id: toolAssistant.provider_id,
      skills: 'all',
    });
    expect(bobsOwn.name).toBe('bob-bot');
    llm.script(
      {
        tool_calls: [
          { name: 'read_reference_file', arguments: { skill_name: 'pdfkit', file_name: 'reference.md' } },
        ],
      },
      { respond: (body) => ({ content: toolTexts(body).join('') }) },
    );
    const bobClient = openAiClient(t.baseUrl, (await assistantKey(bob.api)).token, { maxRetries: 0 });
    const answer = await bobClient.chat.completions.create({
      model: 'bob-bot',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(answer.choices[0]!.message.content).not.toContain('REF-MARKER-42');
    expect(answer.choices[0]!.message.content).toMatch(/not found|no skill/i);
    // and alice's assistant never reaches bob's skill
    llm.script(
      {
        tool_calls: [
          { name: 'read_reference_file', arguments: { skill_name: 'bob-secret', file_name: 'secret.txt' } },
        ],
      },
      { respond: (body) => ({ content: toolTexts(body).join('') }) },
    );
    const aliceAnswer = await aliceClient.chat.completions.create({
      model: 'pdf-helper',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(aliceAnswer.choices[0]!.message.content).not.toContain('BOB-SECRET-MARKER');
  });

  it('a key disabled mid-session stops working', async () => {
    const key = await assistantKey(alice.api);
    const client = openAiClient(t.baseUrl, key.token, { maxRetries: 0 });
    llm.script({ content: 'first' });
    const first = await client.chat.completions.create({
      model: 'pdf-helper',
      messages: [{ role: 'user', content: 'one' }],
    });
    expect(first.choices[0]!.message.content).toBe('first');
    // Disabled while the model is thinking: the tool it then asks for never runs.
    llm.script({
      tool_calls: [{ name: 'load_skill_metadata', arguments: {} }],
      delayMs: 300,
      expect: () => void alice.api.request('PUT', `/api/v1/api-keys/${key.id}`, { is_disabled: true }),
    });
    const during = await client.chat.completions
      .create({
        model: 'pdf-helper',
        messages: [
          { role: 'user', content: 'one' },
          { role: 'assistant', content: 'first' },
          { role: 'user', content: 'two' },
        ],
      })
      .catch((e) => e);
    expect(during).toBeInstanceOf(OpenAI.AuthenticationError);
    const after = await client.chat.completions
      .create({ model: 'pdf-helper', messages: [{ role: 'user', content: 'three' }] })
      .catch((e) => e);
    expect(after).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});

describe('client disconnect', () => {
  const sleepers = (marker: string) => {
    try {
      return execFileSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean);
    } catch {
      return [];
    }
  };

  it('closing the stream mid-tool stops the tool: no process is left', async () => {
    llm.script(
      {
        tool_calls: [
          {
            name: 'run_shell_command',
            arguments: { skill_name: 'pdfkit', command: 'bash scripts/wait.sh 47' },
          },
        ],
      },
      { content: 'never' },
    );
    const abort = new AbortController();
    const stream = await aliceClient.chat.completions.create(
      { model: 'pdf-helper', stream: true, messages: [{ role: 'user', content: 'wait' }] },
      { signal: abort.signal },
    );
    const reading = (async () => {
      for await (const _ of stream) void _;
    })().catch((e) => e);
    await until('the tool process to start', async () => sleepers('47').length > 0);
    abort.abort();
    await reading;
    await until('the tool process to end', async () => sleepers('47').length === 0);
    expect(llm.remaining).toBe(1); // the loop did not go on to ask the model again
    llm.clear();
  });

  it('closing the stream while the model thinks aborts the provider request', async () => {
    llm.script({ content: 'slow answer', delayMs: 5_000 });
    const abort = new AbortController();
    const before = llm.requests.length;
    const stream = await aliceClient.chat.completions.create(
      { model: 'pdf-helper', stream: true, messages: [{ role: 'user', content: 'slow' }] },
      { signal: abort.signal },
    );
    const reading = (async () => {
      for await (const _ of stream) void _;
    })().catch((e) => e);
    await until('the provider request', async () => llm.requests.length > before);
    abort.abort();
    await reading;
    await until('the provider request to be aborted', async () => llm.requests[before]!.aborted);
  });
});
