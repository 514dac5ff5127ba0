/**
 * Issue 13, end to end: an assistant whose scripted model calls the skill tools on a real skill and a real
 * upstream MCP tool (a Streamable HTTP server built with the official SDK, in this process, registered through
 * the REST API), and whose final answer carries what those tools really returned. Also: an assistant without the
 * upstream in its selection is not offered its tools, and another user's assistant cannot reach the server.
 *
 * `run_shell_command` runs in the sandbox: run this file under `flock /tmp/skillport-sandbox.lock`.
 */
import { randomBytes } from 'node:crypto';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import type OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Api, registerUser } from '../helpers/api.js';
import { startMcpUpstream, type McpUpstream } from '../helpers/mcp-upstream.js';
import type { ScriptedLlm } from '../helpers/scripted-llm.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { skillZip } from '../helpers/zips.js';
import { assistantKey, createAssistant, createProvider, openAiClient, startLlm } from './fixtures.js';

const PDF_FILES = [
  { path: 'reference.md', data: '# Reference\n\nPage sizes: A4 is 210x297 mm (REF-MARKER-42).\n' },
  {
    path: 'scripts/extract.py',
    data: 'import sys\nprint("extracted text of", sys.argv[1], "=", sum(range(10)))\n',
    mode: 0o100755,
  },
];

/** The skill tools every assistant with skills and scripts is offered (the search meta-tools included). */
const SKILL_TOOLS = [
  'load_skill',
  'load_skill_metadata',
  'read_reference_file',
  'run_shell_command',
  'search_skills',
  'search_tools',
];

/** Every call the upstream received, with the token it minted for it (unknown to the test until then). */
const upstreamCalls: Array<{ tool: string; text: string; token: string }> = [];

let t: TestServer;
let llm: ScriptedLlm;
let alice: Awaited<ReturnType<typeof registerUser>>;
let bob: Awaited<ReturnType<typeof registerUser>>;
let aliceClient: OpenAI;
let bobClient: OpenAI;
let upstream: McpUpstream;
let providerId: string;

/** The text of the tool messages in a request the model received, in order. */
const toolTexts = (body: any): string[] =>
  body.messages.filter((m: any) => m.role === 'tool').map((m: any) => String(m.content));
const offered = (body: any): string[] => (body.tools ?? []).map((tool: any) => tool.function.name).sort();

/** A real MCP server (official SDK, Streamable HTTP, stateless) on 127.0.0.1 that mints a fresh token per call. */
async function startUpstream(): Promise<void> {
  const handler = createMcpHandler(() => {
    const s = new McpServer({ name: 'vault-fixture', version: '1.0.0' });
    s.registerTool(
      'mint',
      { description: 'Signs a text with a fresh random token', inputSchema: z.object({ text: z.string() }) },
      ({ text }) => {
        const token = `minted-${randomBytes(8).toString('hex')}`;
        upstreamCalls.push({ tool: 'mint', text, token });
        return { content: [{ type: 'text', text: `${text} signed ${token}` }] };
      },
    );
    s.registerTool(
      'other',
      { description: 'Another tool of the same server', inputSchema: z.object({}) },
      () => {
        upstreamCalls.push({ tool: 'other', text: '', token: '' });
        return { content: [{ type: 'text', text: 'other' }] };
      },
    );
    return s;
  });
  upstream = await startMcpUpstream(handler);
}

beforeAll(async () => {
  llm = await startLlm();
  await startUpstream();
  t = await startTestServer({ COMMAND_TIMEOUT: '60' });
  const anon = new Api(t.baseUrl);
  alice = await registerUser(anon, 'upalice'); // first user: the admin
  bob = await registerUser(anon, 'upbob');
  const upload = await alice.api.post(
    '/api/v1/skills',
    await skillZip('pdfkit', 'Extract text from PDF files', PDF_FILES),
  );
  expect(upload.status, upload.text).toBe(201);
  // The upstream listens on loopback: an administrator's own URLs are trusted (a user's would need the admin
  // settings upstream_allow_http and upstream_allow_private_networks).
  const created = await alice.api.post('/api/v1/mcp-servers', {
    transport: 'streamable-http',
    name: 'vault',
    url: upstream.url,
  });
  expect(created.status, created.text).toBe(201);
  expect(created.body.shared).toBe(false);
  await until('the vault upstream running with its tools', async () => {
    const s = (await alice.api.get('/api/v1/mcp-servers')).body.items.find((x: any) => x.name === 'vault');
    return s?.status === 'running' && s.tools.length === 2;
  });
  providerId = await createProvider(alice.api, llm);
  aliceClient = openAiClient(t.baseUrl, (await assistantKey(alice.api)).token, { maxRetries: 0 });
  bobClient = openAiClient(t.baseUrl, (await assistantKey(bob.api)).token, { maxRetries: 0 });
});
afterAll(async () => {
  await t?.close();
  await llm?.close();
  await upstream?.close();
});

// Each test checks the scripted model's assertions itself; one test's failure must not fail the next.
afterEach(() => void llm.errors.splice(0));

describe('an assistant with skills and an upstream MCP server', () => {
  it('calls load_skill_metadata, load_skill, read_reference_file, run_shell_command and <server>__<tool>; the answer carries their real results', async () => {
    const a = await createAssistant(alice.api, {
      name: 'vault-helper',
      provider_id: providerId,
      system_prompt: 'Use skills and tools.',
      skills: 'all',
      run_scripts: true,
      upstream_tools: ['vault'],
      max_steps: 8,
    });
    expect(a.upstream_tools).toEqual(['vault']);
    const nonce = `nonce-${randomBytes(6).toString('hex')}`;
    const before = upstreamCalls.length;
    llm.script(
      {
        tool_calls: [{ name: 'load_skill_metadata', arguments: {} }],
        expect: (body) => {
          expect(offered(body)).toEqual([...SKILL_TOOLS, 'vault__mint', 'vault__other'].sort());
          const mint = body.tools.find((tool: any) => tool.function.name === 'vault__mint').function;
          expect(mint.description).toContain('fresh random token');
          expect(mint.parameters.properties).toHaveProperty('text');
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
      { tool_calls: [{ name: 'vault__mint', arguments: { text: nonce } }] },
      { respond: (body) => ({ content: `Results:\n${toolTexts(body).join('\n---\n')}` }) },
    );
    const answer = await aliceClient.chat.completions.create({
      model: 'vault-helper',
      messages: [{ role: 'user', content: 'Extract report.pdf and sign it' }],
    });
    expect(llm.errors).toEqual([]);
    // The upstream really ran once, with the model's arguments, and minted a token the test could not know.
    expect(upstreamCalls.slice(before)).toEqual([{ tool: 'mint', text: nonce, token: expect.any(String) }]);
    const minted = upstreamCalls[before]!.token;
    const text = answer.choices[0]!.message.content!;
    expect(text).toContain('- pdfkit: Extract text from PDF files');
    expect(text).toContain('# pdfkit'); // the SKILL.md body
    expect(text).toContain('REF-MARKER-42');
    expect(text).toContain('extracted text of report.pdf = 45');
    expect(text).toContain(`${nonce} signed ${minted}`);
    expect(answer.choices[0]!.finish_reason).toBe('stop');
    expect(answer.choices[0]!.message.tool_calls).toBeUndefined();
  });

  it('selects one tool of the server by its exposed name (<server>__<tool>)', async () => {
    await createAssistant(alice.api, {
      name: 'mint-only',
      provider_id: providerId,
      skills: [],
      upstream_tools: ['vault__mint'],
    });
    const nonce = `nonce-${randomBytes(6).toString('hex')}`;
    const before = upstreamCalls.length;
    llm.script(
      {
        tool_calls: [{ name: 'vault__mint', arguments: { text: nonce } }],
        expect: (body) => expect(offered(body)).toEqual(['vault__mint']),
      },
      { respond: (body) => ({ content: toolTexts(body).join('') }) },
    );
    const answer = await aliceClient.chat.completions.create({
      model: 'mint-only',
      messages: [{ role: 'user', content: 'sign' }],
    });
    expect(llm.errors).toEqual([]);
    expect(upstreamCalls.slice(before)).toHaveLength(1);
    expect(answer.choices[0]!.message.content).toBe(`${nonce} signed ${upstreamCalls[before]!.token}`);
  });
});

describe('who is offered and who reaches the upstream', () => {
  it('an assistant without the server in its selection is not offered its tools, and cannot call them', async () => {
    await createAssistant(alice.api, {
      name: 'skills-only',
      provider_id: providerId,
      skills: 'all',
      run_scripts: true,
    });
    const before = upstreamCalls.length;
    llm.script(
      {
        tool_calls: [{ name: 'vault__mint', arguments: { text: 'sneaky' } }],
        expect: (body) => expect(offered(body)).toEqual(SKILL_TOOLS),
      },
      { respond: (body) => ({ content: `got: ${toolTexts(body).join('')}` }) },
    );
    const answer = await aliceClient.chat.completions.create({
      model: 'skills-only',
      messages: [{ role: 'user', content: 'sign' }],
    });
    expect(llm.errors).toEqual([]);
    // The call is answered to the model as a tool it does not have; the upstream never received it.
    expect(upstreamCalls.slice(before)).toEqual([]);
    const text = answer.choices[0]!.message.content!;
    expect(text).toMatch(/unavailable tool 'vault__mint'/);
    expect(text).not.toContain('signed minted-');
  });

  it("another user's assistant naming the server is offered nothing of it and cannot call it", async () => {
    // Bob may name it (names are a selection, not a grant), but his tools act as him: alice's private server is
    // not among them.
    const bobs = await createAssistant(bob.api, {
      name: 'bob-vault',
      provider_id: providerId, // the administrator's provider, offered to every user
      skills: [],
      upstream_tools: ['vault'],
    });
    expect(bobs.upstream_tools).toEqual(['vault']);
    const vault = (await alice.api.get('/api/v1/mcp-servers')).body.items.find(
      (x: any) => x.name === 'vault',
    );
    expect((await bob.api.get(`/api/v1/mcp-servers/${vault.id}`)).status).toBe(404);
    expect((await bob.api.get('/api/v1/mcp-servers')).body.items).toEqual([]);
    const before = upstreamCalls.length;
    const requestsBefore = llm.requests.length;
    llm.script(
      { tool_calls: [{ name: 'vault__mint', arguments: { text: 'from-bob' } }] },
      { respond: (body) => ({ content: `got: ${toolTexts(body).join('')}` }) },
    );
    const answer = await bobClient.chat.completions.create({
      model: 'bob-vault',
      messages: [{ role: 'user', content: 'sign' }],
    });
    expect(llm.errors).toEqual([]);
    // The model was offered no tool at all (bob's assistant has no skills and sees no "vault" server) ...
    expect(llm.requests.length - requestsBefore).toBe(2);
    expect(offered(llm.requests[requestsBefore]!.body)).toEqual([]);
    // ... and its call to alice's tool never reached the upstream.
    expect(upstreamCalls.slice(before)).toEqual([]);
    const text = answer.choices[0]!.message.content!;
    expect(text).toMatch(/unavailable tool 'vault__mint'/);
    expect(text).not.toContain('signed minted-');
    // and alice's assistant is not bob's to call either
    const err = await bobClient.chat.completions
      .create({ model: 'vault-helper', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: Error) => e);
    expect(err).toMatchObject({ status: 404 });
  });
});
