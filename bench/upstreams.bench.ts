/**
 * Connector benchmark (issue 12): `npx tsx bench/upstreams.bench.ts` (as root or a user that can run bubblewrap).
 *
 * In one run, on this machine:
 * 1. the latency a tool call through Skillport adds over the same call made directly to the upstream, for
 *      - a Streamable HTTP upstream (an SDK v2 `createMcpHandler` with one `echo` tool, served by @hono/node-server),
 *        and
 *      - a stdio upstream (the test fixture `test/upstreams/fixtures/stdio-server.mjs`; directly: the SDK client
 *        spawning it; through Skillport: sandboxed by the supervisor),
 *    each measured as BENCH_ROUNDS interleaved rounds (direct, through, direct, through, …) of BENCH_CALLS sequential
 *    `echo` calls by one SDK client over Streamable HTTP (2026-07-28) to Skillport's `/mcp`; the median round's p50
 *    and p99 are reported, and the added p50 is through − direct from the same round pairs;
 * 2. memory per idle stdio upstream: BENCH_IDLE sandboxed fixture servers started through Skillport, the summed RSS
 *    of their process trees (bwrap, node) divided by their number.
 *
 * Skillport runs in this process (embedded PGlite, LOG_LEVEL=warn); the clients run on the same event loop, so the
 * figures include client CPU on both sides alike.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { loadConfig } from '../src/config/index.js';
import { startServer } from '../src/server/start.js';
import { percentile } from './lib.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE = Number(process.env.BENCH_IDLE ?? 5);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = path.join(realpathSync(ROOT), 'test/upstreams/fixtures/stdio-server.mjs');
const MODULES = realpathSync(path.join(ROOT, 'node_modules'));
const MARKER = `bench-${randomBytes(4).toString('hex')}`;

async function timeCalls(client: Client, tool: string): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    await client.callTool({ name: tool, arguments: { text: 'x' } });
    ms.push(performance.now() - t);
  }
  return ms;
}

async function compare(label: string, direct: Client, through: Client, tool: string): Promise<void> {
  await timeCalls(direct, 'echo'); // warm-up
  await timeCalls(through, tool);
  const rounds: Array<{ d: number[]; t: number[] }> = [];
  for (let r = 0; r < ROUNDS; r++)
    rounds.push({ d: await timeCalls(direct, 'echo'), t: await timeCalls(through, tool) });
  const added = rounds.map((r) => percentile(r.t, 50) - percentile(r.d, 50)).sort((a, b) => a - b);
  const median = rounds.sort((a, b) => percentile(a.t, 50) - percentile(b.t, 50))[Math.floor(ROUNDS / 2)]!;
  console.log(
    `${label.padEnd(16)} direct p50 ${percentile(median.d, 50).toFixed(2)} ms p99 ${percentile(median.d, 99).toFixed(2)} ms | ` +
      `through Skillport p50 ${percentile(median.t, 50).toFixed(2)} ms p99 ${percentile(median.t, 99).toFixed(2)} ms | ` +
      `added p50 (median of rounds) ${added[Math.floor(ROUNDS / 2)]!.toFixed(2)} ms`,
  );
}

async function until(probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function treeRssKiB(): { count: number; kib: number } {
  const rows = execFileSync('ps', ['-eo', 'rss=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(MARKER));
  return { count: rows.length, kib: rows.reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0]), 0) };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skillport-bench-'));
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'skillport-bench-state-'));
  const handler = createMcpHandler(() => {
    const s = new McpServer({ name: 'bench-upstream', version: '1.0.0' });
    s.registerTool(
      'echo',
      { description: 'Echo', inputSchema: z.object({ text: z.string() }) },
      ({ text }) => ({
        content: [{ type: 'text', text }],
      }),
    );
    return s;
  });
  const upstream = serve({ fetch: (req) => handler.fetch(req), port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => upstream.once('listening', r));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/mcp`;
  const server = await startServer(
    loadConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      UPSTREAM_STATE_DIR: stateDir,
      COMMANDS_ENABLED: 'false',
      AUTH_RATE_LIMIT_PER_IP: '100000',
    }),
  );
  const api = async (method: string, url: string, body?: unknown, token?: string) => {
    const res = await fetch(server.url + url, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as Record<string, any>;
  };
  const session = (
    await api('POST', '/api/v1/auth/register', {
      email: 'b@example.com',
      username: 'bench',
      password: 'bench-password-long',
    })
  ).access_token as string;
  const key = (await api('POST', '/api/v1/api-keys', { name: 'b', can_use_mcp: true }, session))
    .token as string;
  const stdioServer = (name: string) => ({
    transport: 'stdio',
    name,
    command: 'node',
    args: [FIXTURE, MARKER],
    read_paths: [path.dirname(FIXTURE), MODULES, realpathSync(ROOT)],
  });
  await api(
    'POST',
    '/api/v1/mcp-servers',
    { transport: 'streamable-http', name: 'web', url: upstreamUrl },
    session,
  );
  await api('POST', '/api/v1/mcp-servers', stdioServer('io'), session);
  const running = async (name: string) =>
    ((await api('GET', '/api/v1/mcp-servers', undefined, session)).items as any[]).some(
      (s) => s.name === name && s.status === 'running' && s.tools.length > 0,
    );
  await until(async () => (await running('web')) && (await running('io')));

  const connect = async (
    transport: StreamableHTTPClientTransport | StdioClientTransport,
    modern: boolean,
  ) => {
    const c = new Client(
      { name: 'bench', version: '1' },
      modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
    );
    await c.connect(transport);
    return c;
  };
  const through = await connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
    true,
  );
  await until(async () => (await through.listTools()).tools.some((t) => t.name === 'io__echo'));
  console.log(
    `upstreams bench: Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`,
  );
  const directHttp = await connect(new StreamableHTTPClientTransport(new URL(upstreamUrl)), false);
  await compare('streamable-http', directHttp, through, 'web__echo');
  const directStdio = await connect(
    new StdioClientTransport({ command: process.execPath, args: [FIXTURE, MARKER], cwd: ROOT }),
    false,
  );
  await compare('stdio', directStdio, through, 'io__echo');
  await directStdio.close();

  // Idle memory: IDLE more stdio servers (plus the one above), none of them called.
  for (let i = 0; i < IDLE - 1; i++)
    await api('POST', '/api/v1/mcp-servers', stdioServer(`idle${i}`), session);
  for (let i = 0; i < IDLE - 1; i++) await until(() => running(`idle${i}`));
  await new Promise((r) => setTimeout(r, 2_000));
  const { count, kib } = treeRssKiB();
  console.log(
    `idle stdio upstreams: ${IDLE} servers, ${count} processes (bwrap outer + inner, node), ` +
      `${(kib / 1024 / IDLE).toFixed(1)} MiB RSS per server (sum of RSS; shared pages counted in each)`,
  );
  await through.close();
  await directHttp.close();
  await server.stop();
  upstream.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}

await main();
