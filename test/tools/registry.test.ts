/**
 * The tool layer on a real server and database: every caller's tools come from the registry (per principal,
 * permission-filtered, restricted to a subset of skills when the credential says so), the same tools as OpenAI
 * function specs, typed errors mapped by type at the MCP edge, and provider list changes reaching exactly the
 * affected users' clients (`/mcp` subscription streams and legacy SSE).
 */
import { EventEmitter } from 'node:events';
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import type { Transport } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMcpServer } from '../../src/mcp/index.js';
import { skillsExtension } from '../../src/mcp/server.js';
import { AppError } from '../../src/shared/errors.js';
import type { Principal } from '../../src/shared/principal.js';
import {
  defineTool,
  textResult,
  ToolError,
  type ToolContext,
  type ToolProvider,
  type ToolsChange,
} from '../../src/tools/index.js';
import { Api } from '../helpers/api.js';
import { connectMcp } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { call, callError, callText, deferred, mcpUser, uploadSkill, type McpUser } from '../mcp/fixtures.js';

const SKILL_TOOLS = ['load_skill_metadata', 'load_skill', 'read_reference_file', 'search_skills'];

let t: TestServer;
let alice: McpUser;
let bob: McpUser;
const principalOf = (u: McpUser, extra: Partial<Principal> = {}): Principal => ({
  userId: u.user.id,
  isAdmin: false,
  via: 'api_token',
  scopes: ['mcp'],
  ...extra,
});
const ctxFor = (principal: Principal): ToolContext => ({
  principal,
  signal: new AbortController().signal,
  logger: t.server.ctx.logger,
  requestId: 'test-request',
});

beforeAll(async () => {
  t = await startTestServer();
  const anon = new Api(t.baseUrl);
  await mcpUser(anon, 'regadmin'); // the first user is the administrator
  alice = await mcpUser(anon, 'regalice');
  bob = await mcpUser(anon, 'regbob');
  for (const [name, description] of [
    ['pdf-tools', 'Extract text from PDF files.'],
    ['pdf-forms', 'Fill in PDF forms.'],
    ['spreadsheets', 'Build spreadsheets from PDF tables.'],
  ])
    await uploadSkill(alice.api, name!, description, [{ path: 'notes.md', data: `${name} notes\n` }]);
}, 60_000);
afterAll(() => t?.close());

/**
 * A real SDK client on the MCP edge (`buildMcpServer`) for an arbitrary principal: until credentials can carry
 * a restriction, this is how a restricted caller reaches the adapter. In-memory transport, real server code.
 */
async function connectAs(principal: Principal): Promise<Client> {
  const { tools, skillViews, logger, version } = t.server.ctx;
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const handle = serveStdio(
    async () =>
      buildMcpServer({
        registry: tools,
        tools: await tools.toolsFor(principal),
        principal,
        logger,
        version,
        skills: skillsExtension(skillViews.libraryFor(principal), logger),
      }),
    { transport: serverSide as unknown as Transport },
  );
  const client = new Client({ name: 'registry-test', version: '1.0.0' });
  await client.connect(clientSide);
  const close = client.close.bind(client);
  client.close = async () => {
    await close();
    await handle.close();
  };
  return client;
}

describe('listing per principal', () => {
  it('lists the skill tools and run_shell_command to a caller with MCP use, nothing without it', async () => {
    const full = await t.server.ctx.tools.toolsFor(principalOf(alice));
    expect(full.tools.map((x) => x.name)).toEqual([...SKILL_TOOLS, 'run_shell_command', 'search_tools']);
    const apiOnly = await t.server.ctx.tools.toolsFor(principalOf(alice, { scopes: ['api'] }));
    expect(apiOnly.tools).toEqual([]);
    await expect(
      t.server.ctx.tools.call('load_skill_metadata', {}, ctxFor(principalOf(alice, { scopes: ['api'] }))),
    ).rejects.toMatchObject({ code: 'not_found' });
  });

  it('builds a caller view once and serves it again until a change', async () => {
    const registry = t.server.ctx.tools;
    const first = await registry.toolsFor(principalOf(alice));
    expect(await registry.toolsFor(principalOf(alice))).toBe(first);
    expect(await registry.toolsFor(principalOf(bob))).not.toBe(first);
  });

  it('serves MCP tools/list from the registry, with the same names, titles and schemas', async () => {
    const client = await connectMcp(t.baseUrl, alice.token);
    try {
      const listed = (await client.listTools()).tools;
      const set = await t.server.ctx.tools.toolsFor(principalOf(alice));
      expect(listed.map((x) => x.name)).toEqual(set.tools.map((x) => x.name));
      for (const tool of set.tools) {
        const l = listed.find((x) => x.name === tool.name)!;
        expect(l.title).toBe(tool.title);
        expect(l.description).toBe(tool.description);
        expect(l.annotations).toEqual(tool.annotations);
      }
    } finally {
      await client.close();
    }
  });
});

describe('OpenAI function specs', () => {
  it('describes every tool of the caller from the same zod schemas MCP lists', async () => {
    const client = await connectMcp(t.baseUrl, alice.token);
    try {
      const listed = (await client.listTools()).tools;
      const specs = (await t.server.ctx.tools.toolsFor(principalOf(alice))).openAi();
      expect(specs.map((s) => s.function.name)).toEqual(listed.map((x) => x.name));
      for (const spec of specs) {
        const mcp = listed.find((x) => x.name === spec.function.name)!;
        expect(spec.type).toBe('function');
        expect(spec.function.description).toBe(mcp.description);
        expect(spec.function.parameters).not.toHaveProperty('$schema');
        const { $schema: _ignored, ...mcpSchema } = mcp.inputSchema as Record<string, unknown>;
        expect(spec.function.parameters).toEqual(mcpSchema);
      }
      const byName = Object.fromEntries(specs.map((s) => [s.function.name, s.function.parameters]));
      expect(byName.load_skill).toMatchObject({
        type: 'object',
        required: ['skill_name'],
        properties: { skill_name: { type: 'string', minLength: 1, maxLength: 128 } },
      });
      expect(byName.search_skills).toMatchObject({
        required: ['query'],
        properties: { limit: { type: 'integer', minimum: 1, maximum: 50 } },
      });
      expect((byName.run_shell_command as any).required).toEqual(['skill_name', 'command']);
    } finally {
      await client.close();
    }
  });
});

describe('restriction to a subset of skills', () => {
  const restricted = () =>
    principalOf(alice, { restriction: { skills: ['pdf-tools', 'not-a-skill-of-hers'] } });

  it('lists, loads, reads, searches and runs only the allowed skills through the registry', async () => {
    const registry = t.server.ctx.tools;
    const ctx = ctxFor(restricted());
    const text = (r: any) => r.content[0].text as string;
    expect(text(await registry.call('load_skill_metadata', {}, ctx))).toBe(
      'Available skills (1). Call load_skill(skill_name) before using one:\n- pdf-tools: Extract text from PDF files.',
    );
    expect(text(await registry.call('load_skill', { skill_name: 'pdf-tools' }, ctx))).toContain(
      '# pdf-tools',
    );
    // Outside the restriction a skill answers like a missing one, and suggestions name only allowed skills.
    const refused = await registry.call('load_skill', { skill_name: 'pdf-forms' }, ctx).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ToolError);
    expect(refused).toMatchObject({
      code: 'not_found',
      message: 'No skill named "pdf-forms". Did you mean: pdf-tools?',
    });
    await expect(
      registry.call('read_reference_file', { skill_name: 'spreadsheets', file_name: 'notes.md' }, ctx),
    ).rejects.toMatchObject({ code: 'not_found' });
    const search = text(await registry.call('search_skills', { query: 'pdf' }, ctx));
    expect(search).toContain('- pdf-tools');
    expect(search).not.toMatch(/pdf-forms|spreadsheets/);
    await expect(
      registry.call('run_shell_command', { skill_name: 'spreadsheets', command: 'cat notes.md' }, ctx),
    ).rejects.toMatchObject({ code: 'not_found', message: 'No skill named "spreadsheets".' });
    // The same credential without a restriction sees all three.
    const all = text(await registry.call('load_skill_metadata', {}, ctxFor(principalOf(alice))));
    expect(all).toContain('Available skills (3)');
  });

  it('holds over the MCP edge: tools and skills/list show only the allowed skills', async () => {
    const client = await connectAs(restricted());
    try {
      expect((await client.listTools()).tools.map((x) => x.name)).toEqual([
        ...SKILL_TOOLS,
        'run_shell_command',
        'search_tools',
      ]);
      expect(await callText(client, 'load_skill_metadata')).not.toMatch(/pdf-forms|spreadsheets/);
      expect(await callError(client, 'load_skill', { skill_name: 'spreadsheets' })).toMatch(
        /^No skill named "spreadsheets"\./,
      );
      const listing = await new SkillsClient(client).list();
      expect(listing.skills.map((s) => s.uri)).toEqual(['skill://pdf-tools/SKILL.md']);
      await expect(client.readResource({ uri: 'skill://pdf-forms/SKILL.md' })).rejects.toThrow(/not found/i);
      expect((await client.readResource({ uri: 'skill://pdf-tools/notes.md' })).contents[0]).toMatchObject({
        text: 'pdf-tools notes\n',
      });
    } finally {
      await client.close();
    }
  });
});

describe('errors are mapped by type, not by message text', () => {
  const failures: Record<string, () => Promise<never>> = {
    tool_forbidden: async () => {
      throw new ToolError('forbidden', 'You may not do that; ask the owner.');
    },
    service_unavailable: async () => {
      throw new AppError(503, 'busy', 'The service is busy; try again in a minute.');
    },
    // Reads like an unknown skill, but is an unexpected failure: it must not reach the caller.
    looks_like_unknown_skill: async () => {
      throw new Error('No skill named "secret-internal-detail"');
    },
  };
  const provider: ToolProvider = {
    name: 'failing',
    tools: () =>
      Object.entries(failures).map(([name, fail]) =>
        defineTool({
          name,
          title: name,
          description: `Fails: ${name}`,
          inputSchema: z.object({ n: z.number().int().optional() }),
          annotations: { readOnlyHint: true },
          permission: 'skills.read',
          call: fail,
        }),
      ),
  };
  beforeAll(() => t.server.ctx.tools.register(provider));

  it('gives ToolErrors with codes to a direct caller', async () => {
    const ctx = ctxFor(principalOf(bob));
    const registry = t.server.ctx.tools;
    await expect(registry.call('tool_forbidden', {}, ctx)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(registry.call('service_unavailable', {}, ctx)).rejects.toMatchObject({
      code: 'unavailable',
      message: 'The service is busy; try again in a minute.',
    });
    await expect(registry.call('looks_like_unknown_skill', {}, ctx)).rejects.toMatchObject({
      code: 'internal',
      message: 'Internal error while running the tool; try again later.',
    });
    await expect(registry.call('tool_forbidden', { n: 'x' }, ctx)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/^Invalid argument n: /),
    });
    await expect(registry.call('no_such_tool', {}, ctx)).rejects.toMatchObject({ code: 'not_found' });
    await expect(registry.call('load_skill', { skill_name: 'a\u0000b' }, ctx)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/^Invalid argument skill_name: it must not contain/),
    });
  });

  it('turns each into an isError result over /mcp and /sse', async () => {
    for (const kind of ['modern', 'sse'] as const) {
      const client = await connectMcp(t.baseUrl, bob.token, kind);
      try {
        expect(await callError(client, 'tool_forbidden')).toBe('You may not do that; ask the owner.');
        expect(await callError(client, 'service_unavailable')).toBe(
          'The service is busy; try again in a minute.',
        );
        expect(await callError(client, 'looks_like_unknown_skill')).toBe(
          'Internal error while running the tool; try again later.',
        );
        const unknown = await call(client, 'load_skill', { skill_name: 'nothing-like-this-here' });
        expect(unknown.isError).toBe(true);
      } finally {
        await client.close();
      }
    }
    const failed = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'tool failed');
    expect(failed.some((l) => l.tool === 'looks_like_unknown_skill')).toBe(true);
  });
});

describe('tool list changes', () => {
  /** A provider whose list differs per user and changes on demand (as an upstream MCP server's will). */
  class PerUserProvider implements ToolProvider {
    readonly name = 'per-user';
    readonly events = new EventEmitter<{ change: [ToolsChange] }>();
    private readonly extra = new Set<string>();
    grant(userId: string): void {
      this.extra.add(userId);
      this.events.emit('change', { userId });
    }
    tools(principal: Principal) {
      return this.extra.has(principal.userId)
        ? [
            defineTool({
              name: 'granted_tool',
              title: 'Granted',
              description: 'Only for users granted it.',
              inputSchema: z.object({}),
              annotations: { readOnlyHint: true },
              permission: 'skills.read',
              call: async () => textResult(`granted to ${principal.userId}`),
            }),
          ]
        : [];
    }
    onChange(listener: (change: ToolsChange) => void) {
      this.events.on('change', listener);
      return () => this.events.off('change', listener);
    }
  }

  it('reaches only the affected user, over a /mcp subscription stream and a legacy SSE session', async () => {
    const provider = new PerUserProvider();
    t.server.ctx.tools.register(provider); // before anyone listens: registering changes everybody's list
    const aliceModern = await connectMcp(t.baseUrl, alice.token, 'modern');
    const aliceSse = await connectMcp(t.baseUrl, alice.token, 'sse');
    const bobModern = await connectMcp(t.baseUrl, bob.token, 'modern');
    const bobSse = await connectMcp(t.baseUrl, bob.token, 'sse');
    try {
      const got = {
        aliceModern: deferred(),
        aliceSse: deferred(),
        bobModern: deferred(),
        bobSse: deferred(),
      };
      const counts = { aliceModern: 0, aliceSse: 0, bobModern: 0, bobSse: 0 };
      const clients = { aliceModern, aliceSse, bobModern, bobSse };
      for (const [key, client] of Object.entries(clients) as Array<[keyof typeof clients, Client]>) {
        client.setNotificationHandler('notifications/tools/list_changed', () => {
          counts[key]++;
          got[key].resolve();
        });
      }
      const aliceSub = await aliceModern.listen({ toolsListChanged: true });
      const bobSub = await bobModern.listen({ toolsListChanged: true });
      expect(aliceSub.honoredFilter).toMatchObject({ toolsListChanged: true });
      expect((await bobModern.listTools()).tools.map((x) => x.name)).not.toContain('granted_tool');

      provider.grant(alice.user.id);
      await got.aliceModern.promise;
      await got.aliceSse.promise;
      expect((await aliceModern.listTools()).tools.map((x) => x.name)).toContain('granted_tool');
      expect(await callText(aliceSse, 'granted_tool')).toBe(`granted to ${alice.user.id}`);
      expect((await bobModern.listTools()).tools.map((x) => x.name)).not.toContain('granted_tool');
      // Not his: the SDK answers a call of a tool it does not list as an unknown tool.
      await expect(call(bobModern, 'granted_tool')).rejects.toThrow(/Tool granted_tool not found/);

      // Bob's own change arrives after alice's on the same streams: had alice's reached him, he would count 2.
      provider.grant(bob.user.id);
      await got.bobModern.promise;
      await got.bobSse.promise;
      expect(counts).toEqual({ aliceModern: 1, aliceSse: 1, bobModern: 1, bobSse: 1 });
      expect(await callText(bobModern, 'granted_tool')).toBe(`granted to ${bob.user.id}`);
      await aliceSub.close();
      await bobSub.close();
    } finally {
      for (const c of [aliceModern, aliceSse, bobModern, bobSse]) await c.close();
    }
  });
});
