import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Api, registerUser } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startMcpUpstream, type McpUpstream } from '../helpers/mcp-upstream.js';
import { until } from '../helpers/until.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(realpathSync(here), 'fixtures/stdio-server.mjs');
const REPO = realpathSync(path.resolve(here, '../..'));
const MODULES = realpathSync(path.join(REPO, 'node_modules'));
/** A marker in every fixture's argv, so the leak checks find exactly this file's processes. */
const MARKER = `marker-${randomBytes(4).toString('hex')}`;
const SECRET = `sk-live-${randomBytes(12).toString('hex')}`;
const HEADER_SECRET = `hdr-${randomBytes(12).toString('hex')}`;

/** Processes whose command line carries this file's marker (fixtures, their grandchildren's parents). */
function strayProcesses(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(MARKER) && !l.includes('ps -eo'));
}

let srv: TestServer;
let stateDir: string;
let admin: Api;
let adminToken: string;
let userB: Api;
let bToken: string;
let http: McpUpstream;
let httpUrl: string;

const stdioServer = (name: string, extra: Record<string, unknown> = {}) => ({
  transport: 'stdio',
  name,
  command: 'node',
  args: [FIXTURE, MARKER],
  read_paths: [REPO, MODULES],
  env: { API_TOKEN: SECRET },
  ...extra,
});

async function serverNamed(api: Api, name: string) {
  const res = await api.get('/api/v1/mcp-servers');
  return res.body.items.find((s: { name: string }) => s.name === name);
}
async function running(api: Api, name: string) {
  let last: unknown;
  try {
    return await until(`${name} running`, async () => {
      const s = await serverNamed(api, name);
      last = s && { status: s.status, last_error: s.last_error, tools: s.tools.length };
      return s?.status === 'running' && s.tools.length > 0 && s;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(last)}`, { cause: err });
  }
}
const toolNames = async (client: Client) => (await client.listTools()).tools.map((t) => t.name);

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'skillport-upstreams-'));
  srv = await startTestServer({ UPSTREAM_HEALTH_INTERVAL_SECONDS: '1', UPSTREAM_STATE_DIR: stateDir });
  const anon = new Api(srv.baseUrl);
  admin = (await registerUser(anon, 'connadmin')).api; // the first user is the administrator
  userB = (await registerUser(anon, 'connuserb')).api;
  adminToken = (await admin.post('/api/v1/api-keys', { name: 'mcp', can_use_mcp: true })).body.token;
  bToken = (await userB.post('/api/v1/api-keys', { name: 'mcp', can_use_mcp: true })).body.token;
  // A Streamable HTTP upstream (the SDK v2 handler: both eras, stateless) in this process.
  const handler = createMcpHandler(() => {
    const s = new McpServer({ name: 'http-fixture', version: '1.0.0' });
    s.registerTool(
      'shout',
      { description: 'Upper-cases', inputSchema: z.object({ text: z.string() }) },
      ({ text }) => ({
        content: [{ type: 'text', text: text.toUpperCase() }],
      }),
    );
    return s;
  });
  http = await startMcpUpstream(handler, { requireHeader: { name: 'x-upstream-key', value: HEADER_SECRET } });
  httpUrl = http.url;
}, 60_000);

afterAll(async () => {
  await srv?.close();
  await http?.close();
  rmSync(stateDir, { recursive: true, force: true });
  // Stopping Skillport leaves no upstream process behind.
  expect(strayProcesses()).toEqual([]);
});

describe('stdio upstream (sandboxed) through /mcp', () => {
  let client: Client;

  beforeAll(async () => {
    const res = await admin.post(
      '/api/v1/mcp-servers',
      stdioServer('fix', { env: { API_TOKEN: SECRET, GRANDCHILD: '1' } }),
    );
    expect(res.status, res.text).toBe(201);
    expect(res.text).not.toContain(SECRET);
    expect(res.body.env).toEqual({ API_TOKEN: '••••••••', GRANDCHILD: '••••••••' });
    await running(admin, 'fix');
    client = await connectMcp(srv.baseUrl, adminToken);
  }, 60_000);
  afterAll(() => client?.close());

  it('lists the upstream tools under <server>__<tool> and forwards calls', async () => {
    const names = await toolNames(client);
    expect(names).toEqual(expect.arrayContaining(['fix__echo', 'fix__media', 'fix__crash']));
    expect(names.every((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n))).toBe(true);
    expect(resultText(await client.callTool({ name: 'fix__echo', arguments: { text: 'hi' } }))).toBe('hi');
  });

  it('passes results through faithfully: images, embedded resources, isError', async () => {
    const media = await client.callTool({ name: 'fix__media', arguments: {} });
    expect(media.content).toEqual([
      { type: 'image', data: Buffer.from('png-bytes').toString('base64'), mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'file:///note.txt', mimeType: 'text/plain', text: 'embedded' } },
    ]);
    const fail = await client.callTool({ name: 'fix__fail', arguments: {} });
    expect(fail).toMatchObject({ isError: true, content: [{ type: 'text', text: 'upstream says no' }] });
  });

  it('gives the server its configured secret, sees nothing of the host environment, runs sandboxed', async () => {
    expect(resultText(await client.callTool({ name: 'fix__env', arguments: { name: 'API_TOKEN' } }))).toBe(
      SECRET,
    );
    expect(resultText(await client.callTool({ name: 'fix__env', arguments: { name: 'SECRET_KEY' } }))).toBe(
      '(unset)',
    );
    expect(resultText(await client.callTool({ name: 'fix__env', arguments: { name: 'HOME' } }))).toBe(
      '/state',
    );
  });

  it('skips garbage on stdout and keeps answering', async () => {
    expect(resultText(await client.callTool({ name: 'fix__garbage', arguments: {} }))).toBe('after garbage');
    expect(resultText(await client.callTool({ name: 'fix__echo', arguments: { text: 'still' } }))).toBe(
      'still',
    );
  });

  it('keeps stderr readable to the owner with secrets replaced, and 404 to others', async () => {
    const id = (await serverNamed(admin, 'fix')).id;
    const res = await admin.get(`/api/v1/mcp-servers/${id}/stderr`);
    expect(res.body.stderr).toContain('fixture started; token=***');
    expect(res.text).not.toContain(SECRET);
    expect((await userB.get(`/api/v1/mcp-servers/${id}/stderr`)).status).toBe(404);
  });

  it('relays a tool list change of the upstream', async () => {
    await client.callTool({ name: 'fix__add_tool', arguments: { name: 'late_tool' } });
    await until('the new tool', async () => (await toolNames(client)).includes('fix__late_tool'));
  });

  it('notices a crash at once (grandchild holding stdout), restarts, and counts the restart', async () => {
    // One running instance: bwrap (outer and inner), node, and its sh grandchild.
    const perInstance = strayProcesses().length;
    expect(perInstance).toBeGreaterThanOrEqual(3);
    const crashed = await client.callTool({ name: 'fix__crash', arguments: {} });
    expect(crashed.isError).toBe(true);
    const back = await until('restart', async () => {
      const s = await serverNamed(admin, 'fix');
      return s.status === 'running' && s.restart_count >= 1 && s;
    });
    expect(back.restart_count).toBeGreaterThanOrEqual(1);
    expect(resultText(await client.callTool({ name: 'fix__echo', arguments: { text: 'again' } }))).toBe(
      'again',
    );
    // The crashed run's grandchild went with its sandbox: exactly one instance's processes remain.
    await until('the old tree gone', async () => strayProcesses().length === perInstance);
  });

  it('stops on request: status stopped, tools gone, no process left', async () => {
    const id = (await serverNamed(admin, 'fix')).id;
    const res = await admin.post(`/api/v1/mcp-servers/${id}/stop`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('stopped');
    await until('processes gone', async () => strayProcesses().length === 0);
    expect(await toolNames(client)).not.toContain('fix__echo');
    await admin.post(`/api/v1/mcp-servers/${id}/start`);
    await running(admin, 'fix');
  });
});

describe('published servers from npm as stdio upstreams', () => {
  it('runs @modelcontextprotocol/server-everything and server-memory', async () => {
    for (const [name, pkg] of [
      ['everything', 'server-everything'],
      ['memory', 'server-memory'],
    ] as const) {
      const res = await admin.post('/api/v1/mcp-servers', {
        transport: 'stdio',
        name,
        command: 'node',
        args: [
          `--title=${MARKER}`,
          path.join(MODULES, `@modelcontextprotocol/${pkg}/dist/index.js`),
          'stdio',
        ],
        read_paths: [MODULES],
        // The memory server keeps its graph in the server's own writable state dir.
        ...(name === 'memory' ? { env: { MEMORY_FILE_PATH: '/state/memory.jsonl' } } : {}),
      });
      expect(res.status, res.text).toBe(201);
      await running(admin, name);
    }
    const client = await connectMcp(srv.baseUrl, adminToken);
    const names = await toolNames(client);
    expect(names).toEqual(expect.arrayContaining(['everything__echo', 'memory__create_entities']));
    expect(
      resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } })),
    ).toContain('hello');
    const created = await client.callTool({
      name: 'memory__create_entities',
      arguments: { entities: [{ name: 'ada', entityType: 'person', observations: ['wrote notes'] }] },
    });
    expect(created.isError ?? false, resultText(created)).toBe(false);
    const graph = await client.callTool({ name: 'memory__read_graph', arguments: {} });
    expect(JSON.stringify(graph.content)).toContain('wrote notes');
    await client.close();
  }, 90_000);
});

describe('HTTP upstream, SSRF guard, sharing and isolation', () => {
  it('connects an admin Streamable HTTP upstream with a secret header', async () => {
    const res = await admin.post('/api/v1/mcp-servers', {
      transport: 'streamable-http',
      name: 'web',
      url: httpUrl,
      headers: { 'x-upstream-key': HEADER_SECRET },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.text).not.toContain(HEADER_SECRET);
    await running(admin, 'web');
    const client = await connectMcp(srv.baseUrl, adminToken);
    expect(resultText(await client.callTool({ name: 'web__shout', arguments: { text: 'hey' } }))).toBe('HEY');
    await client.close();
  });

  it('refuses user URLs to loopback, link-local and private addresses, and stdio for users', async () => {
    for (const url of [
      'https://127.0.0.1/mcp',
      'https://169.254.169.254/latest',
      'https://10.1.2.3/',
      'https://[::1]/',
    ]) {
      const res = await userB.post('/api/v1/mcp-servers', {
        transport: 'streamable-http',
        name: 'evil',
        url,
      });
      expect(res.status, url).toBe(400);
    }
    expect(
      (
        await userB.post('/api/v1/mcp-servers', {
          transport: 'sse',
          name: 'plain',
          url: 'http://example.com/',
        })
      ).status,
    ).toBe(400);
    expect((await userB.post('/api/v1/mcp-servers', stdioServer('mine'))).status).toBe(403);
  });

  it("never shows or lets B call A's private servers, through REST or /mcp", async () => {
    const fix = await serverNamed(admin, 'fix');
    expect(await serverNamed(userB, 'fix')).toBeUndefined();
    expect((await userB.get(`/api/v1/mcp-servers/${fix.id}`)).status).toBe(404);
    expect((await userB.request('PUT', `/api/v1/mcp-servers/${fix.id}`, { enabled: false })).status).toBe(
      404,
    );
    expect((await userB.post(`/api/v1/mcp-servers/${fix.id}/stop`)).status).toBe(404);
    for (const kind of ['modern', 'sse'] as const) {
      const b = await connectMcp(srv.baseUrl, bToken, kind);
      expect((await toolNames(b)).some((n) => n.startsWith('fix__'))).toBe(false);
      const call = await b.callTool({ name: 'fix__echo', arguments: { text: 'x' } }).catch((e: Error) => e);
      expect(call instanceof Error || (call as { isError?: boolean }).isError).toBeTruthy();
      await b.close();
    }
  });

  it('shares a server with everyone; a user can hide it; a key restricted to other servers never sees it', async () => {
    const web = await serverNamed(admin, 'web');
    expect((await admin.request('PUT', `/api/v1/mcp-servers/${web.id}`, { shared: true })).status).toBe(200);
    const b = await connectMcp(srv.baseUrl, bToken);
    await until('shared tool', async () => (await toolNames(b)).includes('web__shout'));
    expect(resultText(await b.callTool({ name: 'web__shout', arguments: { text: 'b' } }))).toBe('B');
    const restricted = (
      await userB.post('/api/v1/api-keys', {
        name: 'r',
        can_use_mcp: true,
        restriction: { servers: ['other'] },
      })
    ).body.token;
    const r = await connectMcp(srv.baseUrl, restricted);
    expect(await toolNames(r)).not.toContain('web__shout');
    await r.close();
    expect(
      (await userB.request('PUT', `/api/v1/mcp-servers/${web.id}/hidden`, { hidden: true })).status,
    ).toBe(200);
    await until('hidden', async () => !(await toolNames(b)).includes('web__shout'));
    await b.close();
  });

  it('writes no configured secret to any log line or metric', async () => {
    const metrics = await admin.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('skillport_upstream_tool_calls_total');
    // Upstream tools' names come from outside: their calls share one label instead of a series per name.
    expect(metrics.text).toMatch(/^skillport_mcp_tool_calls_total\{tool="upstream",outcome="ok"\} [1-9]/m);
    expect(metrics.text).not.toMatch(/skillport_mcp_tool_calls_total\{tool="web__/);
    for (const secret of [SECRET, HEADER_SECRET]) {
      expect(metrics.text).not.toContain(secret);
      expect(srv.logs.filter((l) => l.includes(secret))).toEqual([]);
    }
  });
});
