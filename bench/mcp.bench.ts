/**
 * MCP benchmark (issue 4): `npx tsx bench/mcp.bench.ts`.
 *
 * In one run, on this machine:
 * 1. `load_skill` throughput and p50/p99 latency with 1, 8 and 32 concurrent SDK clients (each one a `Client` over
 *    its own Streamable HTTP transport, calling in a loop), against
 *      - a real Skillport server (`startServer`, embedded PGlite in a fresh data dir, LOG_LEVEL=info with the log
 *        written to /dev/null, a real API token, a real skill with four files), and
 *      - a bare SDK v2 server: `createMcpHandler` with one in-memory `load_skill` tool returning text of the same
 *        size, served by @hono/node-server,
 *    interleaved (bare, Skillport, bare, Skillport, … for BENCH_ROUNDS rounds; the median round is reported), for
 *    each protocol era in BENCH_ERAS (`modern` = 2026-07-28 pinned, `legacy` = 2025 stateless).
 * 2. `load_skill_metadata` (and `search_skills`, and a full Skills-over-MCP listing) latency for a user with 1,000
 *    skills, inserted through SkillsService.create (small in-memory packages, no zips).
 *
 * The servers run on the main thread; the clients run in a worker thread, so that client CPU does not share
 * the servers' event loop. Every measurement is bounded by a call count and a time limit.
 *
 * Environment: BENCH_CALLS (max calls per measurement, default 4000), BENCH_SECONDS (max seconds per
 * measurement, default 5), BENCH_ROUNDS (default 3), BENCH_ERAS (default `modern,legacy`), BENCH_SKILLS (default
 * 1000), BENCH_DATABASE_URL (PostgreSQL instead of PGlite; the database must exist and be empty).
 */
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { serve } from '@hono/node-server';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import pino from 'pino';
import { z } from 'zod';
import { loadConfig } from '../src/config/index.js';
import { userLibrary } from '../src/tools/index.js';
import { startServer } from '../src/server/start.js';
import type { Principal } from '../src/shared/principal.js';
import { keyWithScopes } from '../src/accounts/api-tokens.js';
import { percentile } from './lib.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 4000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ERAS = (process.env.BENCH_ERAS ?? 'modern,legacy')
  .split(',')
  .filter((e) => e === 'modern' || e === 'legacy') as Era[];
const SKILLS = Number(process.env.BENCH_SKILLS ?? 1000);
const DATABASE_URL = process.env.BENCH_DATABASE_URL;
const LEVELS = (process.env.BENCH_LEVELS ?? '1,8,32').split(',').map(Number);
const WARMUP_CALLS = 200;

type Era = 'modern' | 'legacy';

interface LoadJob {
  url: string;
  headers: Record<string, string>;
  era: Era;
  clients: number;
  tool: string;
  args: Record<string, unknown>;
  maxCalls: number;
  maxSeconds: number;
  warmup: number;
}

interface LoadResult {
  calls: number;
  errors: number;
  seconds: number;
  latencies: number[];
  bytes: number;
}

// ---- client side (worker thread) ------------------------------------------------------------------------------

async function connect(job: LoadJob): Promise<Client> {
  const client = new Client(
    { name: 'bench', version: '1.0.0' },
    { versionNegotiation: { mode: job.era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(job.url), { requestInit: { headers: job.headers } }),
  );
  return client;
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const clients = await Promise.all(Array.from({ length: job.clients }, () => connect(job)));
  const call = (c: Client) => c.callTool({ name: job.tool, arguments: job.args }) as Promise<any>;
  // Warm-up: JIT, connection pools, caches.
  let warm = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (warm++ < job.warmup) await call(c);
    }),
  );
  const latencies: number[] = [];
  let issued = 0;
  let errors = 0;
  let bytes = 0;
  const started = performance.now();
  const deadline = started + job.maxSeconds * 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (issued < job.maxCalls && performance.now() < deadline) {
        issued++;
        const t0 = performance.now();
        const r = await call(c).catch(() => null);
        latencies.push(performance.now() - t0);
        if (!r || r.isError) errors++;
        else bytes = JSON.stringify(r.content).length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  return { calls: latencies.length, errors, seconds, latencies, bytes };
}

if (!isMainThread) {
  // undici adds one abort listener per fetch to the transport's long-lived signal and drops it only when the
  // request is garbage-collected: thousands of fast calls trip the (harmless) leak warning.
  setMaxListeners(0);
  parentPort!.on('message', async (job: LoadJob) => {
    try {
      parentPort!.postMessage({ ok: true, result: await runLoad(job) });
    } catch (err) {
      parentPort!.postMessage({ ok: false, error: (err as Error).stack });
    }
  });
}

// ---- server side (main thread) --------------------------------------------------------------------------------

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  calls: number;
  errors: number;
}

function summarise(r: LoadResult): Measured {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  return {
    rps: r.calls / r.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    calls: r.calls,
    errors: r.errors,
  };
}

/**
 * This file again, on a worker thread. Node 20 workers do not inherit tsx's loader, so the worker registers it
 * before importing the TypeScript source.
 */
export function loadWorker(): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  return new Worker(
    `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(self)}); })`,
    { eval: true },
  );
}

const median = (ms: Measured[]) => [...ms].sort((a, b) => a.rps - b.rps)[Math.floor(ms.length / 2)]!;

async function main() {
  const worker = loadWorker();
  const load = (job: LoadJob) =>
    new Promise<LoadResult>((resolve, reject) => {
      worker.once('message', (m: { ok: boolean; result?: LoadResult; error?: string }) =>
        m.ok ? resolve(m.result!) : reject(new Error(m.error)),
      );
      worker.postMessage(job);
    });

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skillport-mcp-bench-'));
  const started = performance.now();
  const server = await startServer(
    loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      SECRET_KEY: 'b'.repeat(64),
      LOG_LEVEL: 'info',
      ...(DATABASE_URL ? { DATABASE_URL } : {}),
    }),
    { logDestination: pino.destination({ dest: '/dev/null', sync: false }) },
  );
  const { ctx } = server;
  console.error(
    `Skillport up on ${server.url} (${ctx.db.kind}) in ${Math.round(performance.now() - started)} ms`,
  );

  // One user, one token, one realistic skill.
  const user = await ctx.accounts.createUser(
    { email: 'bench@example.com', username: 'bench', password: 'bench-password-long-enough' },
    { isAdmin: true, actorId: null, ip: null, publicSignup: false },
  );
  const principal: Principal = { userId: user.id, isAdmin: true, via: 'session', scopes: ['mcp', 'api'] };
  const token = (await ctx.apiTokens.create(principal, keyWithScopes('bench', ['mcp']), null)).token;
  const body = `# PDF processing\n\n${'Use scripts/extract.py to pull text and tables out of PDF files. '.repeat(60)}\n`;
  await ctx.skills.create(
    principal,
    {
      rootFolder: 'pdf-tools',
      skipped: [],
      files: [
        {
          path: 'SKILL.md',
          data: Buffer.from(
            `---\nname: pdf-tools\ndescription: Extract text and tables from PDFs.\n---\n${body}`,
          ),
          executable: false,
        },
        { path: 'references/forms.md', data: Buffer.from('# Forms\n'.repeat(50)), executable: false },
        { path: 'scripts/extract.py', data: Buffer.from('print("extract")\n'), executable: true },
        { path: 'assets/logo.png', data: Buffer.alloc(2048, 0), executable: false },
      ],
    },
    null,
  );
  const headers = { Authorization: `Bearer ${token}` };

  // The bare SDK server answers with text of the same size as Skillport's load_skill.
  const probe = await load({
    url: `${server.url}/mcp`,
    headers,
    era: 'modern',
    clients: 1,
    tool: 'load_skill',
    args: { skill_name: 'pdf-tools' },
    maxCalls: 1,
    maxSeconds: 5,
    warmup: 0,
  });
  if (probe.errors) throw new Error('load_skill failed on Skillport');
  const text = 'x'.repeat(probe.bytes - 30);
  const bareHandler = createMcpHandler(() => {
    const s = new McpServer({ name: 'bare', version: '1.0.0' }, { capabilities: { tools: {} } });
    s.registerTool(
      'load_skill',
      { description: 'Returns a fixed text.', inputSchema: z.object({ skill_name: z.string() }) },
      async () => ({ content: [{ type: 'text', text }] }),
    );
    return s;
  });
  const bare = await new Promise<{ url: string; close(): void }>((resolve) => {
    const s = serve({ fetch: (req) => bareHandler.fetch(req), port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve({ url: `http://127.0.0.1:${info.port}`, close: () => s.close() }),
    );
  });

  const lines: string[] = [];
  const out = (l = '') => {
    lines.push(l);
    console.log(l);
  };
  out(
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, database: ${ctx.db.kind}; ` +
      `per measurement ≤ ${CALLS} calls or ≤ ${SECONDS} s, median of ${ROUNDS} interleaved rounds; ` +
      `load_skill answer ${probe.bytes} bytes.`,
  );
  out();
  out(
    '| era | clients | bare SDK calls/s | Skillport calls/s | ratio | bare p50 / p99 ms | Skillport p50 / p99 ms |',
  );
  out('|---|---|---|---|---|---|---|');
  for (const era of ERAS) {
    for (const clients of LEVELS) {
      const job = (url: string): LoadJob => ({
        url: `${url}/mcp`,
        headers,
        era,
        clients,
        tool: 'load_skill',
        args: { skill_name: 'pdf-tools' },
        maxCalls: CALLS,
        maxSeconds: SECONDS,
        warmup: WARMUP_CALLS,
      });
      const bareRuns: Measured[] = [];
      const ourRuns: Measured[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        bareRuns.push(summarise(await load(job(bare.url))));
        ourRuns.push(summarise(await load(job(server.url))));
      }
      const b = median(bareRuns);
      const o = median(ourRuns);
      const errors = bareRuns.concat(ourRuns).reduce((n, m) => n + m.errors, 0);
      if (errors) console.error(`  ${errors} failed calls in ${era}/${clients}`);
      out(
        `| ${era} | ${clients} | ${b.rps.toFixed(0)} | ${o.rps.toFixed(0)} | ${((o.rps / b.rps) * 100).toFixed(0)}% | ` +
          `${b.p50.toFixed(2)} / ${b.p99.toFixed(2)} | ${o.p50.toFixed(2)} / ${o.p99.toFixed(2)} |`,
      );
    }
  }

  // ---- a user with many skills ----
  const many = await ctx.accounts.createUser(
    { email: 'many@example.com', username: 'many', password: 'bench-password-long-enough' },
    { isAdmin: false, actorId: null, ip: null, publicSignup: false },
  );
  const manyPrincipal: Principal = {
    userId: many.id,
    isAdmin: false,
    via: 'session',
    scopes: ['mcp', 'api'],
  };
  const manyToken = (await ctx.apiTokens.create(manyPrincipal, keyWithScopes('bench', ['mcp']), null)).token;
  const insertStarted = performance.now();
  for (let i = 0; i < SKILLS; i++) {
    const name = `skill-${String(i).padStart(4, '0')}`;
    await ctx.skills.create(
      manyPrincipal,
      {
        rootFolder: name,
        skipped: [],
        files: [
          {
            path: 'SKILL.md',
            data: Buffer.from(
              `---\nname: ${name}\ndescription: Skill number ${i}, handles topic ${i % 37} for reports of kind ${i % 11}.\n---\n# ${name}\n\nBody ${i}.\n`,
            ),
            executable: false,
          },
          { path: 'notes.md', data: Buffer.from(`notes ${i}\n`), executable: false },
        ],
      },
      null,
    );
  }
  const insertSeconds = (performance.now() - insertStarted) / 1000;
  const manyHeaders = { Authorization: `Bearer ${manyToken}` };
  const sequential = (tool: string, args: Record<string, unknown>, era: Era = 'modern') =>
    load({
      url: `${server.url}/mcp`,
      headers: manyHeaders,
      era,
      clients: 1,
      tool,
      args,
      maxCalls: Math.min(CALLS, 500),
      maxSeconds: SECONDS,
      warmup: 20,
    }).then((r) => ({ ...summarise(r), bytes: r.bytes }));
  const meta = await sequential('load_skill_metadata', {});
  const metaLegacy = await sequential('load_skill_metadata', {}, 'legacy');
  const search = await sequential('search_skills', { query: 'topic 12 reports', limit: 10 });
  const listing = await timeSkillsListing(`${server.url}/mcp`, manyHeaders);
  // What a cache miss adds: the catalog query itself (once per user after a change, or after the 5 s TTL).
  const uncached = userLibrary(ctx.skills, many.id);
  const missTimes: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now();
    await uncached.catalog();
    missTimes.push(performance.now() - t0);
  }
  missTimes.sort((a, b) => a - b);
  out();
  out(
    `User with ${SKILLS} skills (inserted through SkillsService.create in ${insertSeconds.toFixed(1)} s, ` +
      `${((insertSeconds * 1000) / SKILLS).toFixed(1)} ms each), one client, sequential calls:`,
  );
  out();
  out('| call | p50 ms | p99 ms | calls/s | answer |');
  out('|---|---|---|---|---|');
  out(
    `| load_skill_metadata (2026-07-28) | ${meta.p50.toFixed(2)} | ${meta.p99.toFixed(2)} | ${meta.rps.toFixed(0)} | ${(meta.bytes / 1024).toFixed(0)} KB |`,
  );
  out(
    `| load_skill_metadata (2025 legacy) | ${metaLegacy.p50.toFixed(2)} | ${metaLegacy.p99.toFixed(2)} | ${metaLegacy.rps.toFixed(0)} | ${(metaLegacy.bytes / 1024).toFixed(0)} KB |`,
  );
  out(
    `| search_skills (limit 10) | ${search.p50.toFixed(2)} | ${search.p99.toFixed(2)} | ${search.rps.toFixed(0)} | ${search.bytes} B |`,
  );
  out(
    `| catalog query alone, uncached (in-process) | ${percentile(missTimes, 50).toFixed(2)} | ${percentile(missTimes, 99).toFixed(2)} | | |`,
  );
  out(
    `| SkillsClient.list(): ${listing.skills} skills, every page | ${listing.ms.toFixed(0)} (one walk) | | | |`,
  );

  await worker.terminate();
  bare.close();
  await bareHandler.close();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return lines;
}

/** One full skills/list walk (every page) with the SDK's SkillsClient, on the main thread. */
async function timeSkillsListing(
  url: string,
  headers: Record<string, string>,
): Promise<{ ms: number; skills: number }> {
  const client = new Client({ name: 'bench', version: '1.0.0' }, { listMaxPages: 0 });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  const skills = new SkillsClient(client);
  const t0 = performance.now();
  const listing = await skills.list();
  const ms = performance.now() - t0;
  await client.close();
  return { ms, skills: listing.skills.length };
}

if (
  isMainThread &&
  process.argv[1] &&
  import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href
) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
