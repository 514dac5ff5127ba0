/**
 * MCP benchmark (issues 4, 10, 11): `node --import tsx bench/mcp.bench.ts`.
 *
 * Every server runs in a process of its own, and so does the load generator (`bench/mcp-load.ts`: raw keep-alive
 * sockets replaying pre-serialized requests, a few percent of a core); it reports its own CPU use next to the
 * servers', PostgreSQL's and Redis's and the whole machine's (from /proc), so that a saturated client, a busy
 * database or a machine shared with other work is seen rather than mistaken for the server.
 *
 * 1. `load_skill` throughput and p50/p99 at 1, 8 and 32 concurrent clients, per protocol era (`modern` =
 *    2026-07-28 pinned, `legacy` = 2025 stateless), against
 *      - Skillport: the real CLI (`serve`, LOG_LEVEL=info, its log to /dev/null), a real API key, a real skill, and
 *      - a bare SDK v2 server (`bench/mcp-bare-server.ts`): `createMcpHandler`, one in-memory tool answering text
 *        of the same size, a bearer check, node:http,
 *    interleaved (bare, Skillport, … BENCH_ROUNDS rounds; the median round is reported). The load generator
 *    does not run the SDK client per call: this process records the exact HTTP request the SDK client sends for
 *    the call (headers and body, per era), and the generator replays its bytes over keep-alive sockets, one
 *    socket per client, checking that every answer is a successful tool result.
 * 2. With PostgreSQL and Redis: the same call through `serve --workers 2` against `serve` (one process) at 8 and
 *    32 clients, interleaved, with where the machine's CPU went (each server process, PostgreSQL, Redis, the rest).
 * 3. `load_skill_metadata` for a user with 10 skills and one with BENCH_SKILLS (5,000), warm (sequential calls
 *    after a warm-up), and the catalog query alone (what a cold call adds).
 *
 * Environment: BENCH_CALLS (max calls per measurement, 30000), BENCH_SECONDS (max seconds, 5), BENCH_ROUNDS (3),
 * BENCH_ERAS (`modern,legacy`), BENCH_LEVELS (`1,8,32`), BENCH_SKILLS (5000; 0 skips part 3),
 * BENCH_DATABASE_URL (PostgreSQL instead of PGlite: a URL whose role may create databases; the bench creates and
 * drops its own), BENCH_REDIS_URL (default redis://127.0.0.1:6379; part 2 runs with PostgreSQL only),
 * BENCH_WORKERS (2).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { loadConfig } from '../src/config/index.js';
import { createContext } from '../src/server/context.js';
import { userLibrary } from '../src/tools/index.js';
import type { Principal } from '../src/shared/principal.js';
import { keyWithScopes } from '../src/accounts/api-tokens.js';
import { freePort } from '../test/helpers/pg-cluster.js';
import { percentile, runStatement } from './lib.js';
import type { CpuUse, LoadJob, LoadResult } from './mcp-load.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 30000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ERAS = (process.env.BENCH_ERAS ?? 'modern,legacy')
  .split(',')
  .filter((e) => e === 'modern' || e === 'legacy') as Era[];
const LEVELS = (process.env.BENCH_LEVELS ?? '1,8,32').split(',').map(Number);
const SKILLS = Number(process.env.BENCH_SKILLS ?? 5000);
const ADMIN_URL = process.env.BENCH_DATABASE_URL;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const WARMUP_CALLS = Number(process.env.BENCH_WARMUP ?? 200);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

type Era = 'modern' | 'legacy';

// ---- the load generator --------------------------------------------------------------------------------------

/** One recorded HTTP request, replayed as is. */
interface Replay {
  port: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Records the request the official SDK client sends for one `tools/call` (after its handshake, if any). */
async function capture(url: string, token: string, era: Era, tool: string, args: object): Promise<Replay> {
  let recorded: Replay | undefined;
  const client = new Client(
    { name: 'bench', version: '1.0.0' },
    { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } },
  );
  const recordingFetch = async (input: string | URL | Request, init?: RequestInit) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    if (body.includes('"tools/call"')) {
      const u = new URL(String(input instanceof Request ? input.url : input));
      // fetch adds the length itself; without it node:http would send the body chunked, which the SDK does not.
      const headers = {
        ...Object.fromEntries(new Headers(init?.headers).entries()),
        'content-length': String(Buffer.byteLength(body)),
      };
      recorded = { port: Number(u.port), path: u.pathname + u.search, headers, body };
    }
    return fetch(input, init);
  };
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      fetch: recordingFetch,
    }),
  );
  const result = await client.callTool({ name: tool, arguments: args as Record<string, unknown> });
  await client.close();
  if (!recorded || result.isError) throw new Error(`could not record a ${tool} call on ${url}`);
  return recorded;
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  bytes: number;
  /** Cores used during the measurement by the load generator, the server's processes, PostgreSQL, Redis, all. */
  cpu: CpuUse;
}

/** The load generator's process (`bench/mcp-load.ts`): one job at a time, over IPC. */
interface LoadGenerator {
  run(job: LoadJob): Promise<LoadResult>;
  stop(): Promise<void>;
}

function startLoadGenerator(): LoadGenerator {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/mcp-load.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    run: (job) =>
      new Promise((resolve, reject) => {
        child.once('message', (m: { result?: LoadResult; error?: string }) =>
          m.result ? resolve(m.result) : reject(new Error(`load generator: ${m.error}`)),
        );
        child.send(job);
      }),
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The recorded request as the bytes that go on the wire (base64), with what node:http would add to it. */
function wireRequest(r: Replay): string {
  const headers = Object.entries(r.headers).filter(([k]) => k !== 'host' && k !== 'connection');
  const head = [
    `POST ${r.path} HTTP/1.1`,
    `host: 127.0.0.1:${r.port}`,
    'connection: keep-alive',
    ...headers.map(([k, v]) => `${k}: ${v}`),
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.from(r.body)]).toString('base64');
}

let generator: LoadGenerator;
let database: string | undefined;

/** `clients` sockets, each replaying `r` back to back (after `warmup` calls in all), in the load generator. */
async function load(
  r: Replay,
  clients: number,
  serverPid: number,
  warmup = WARMUP_CALLS,
  maxCalls = CALLS,
): Promise<Measured> {
  const result = await generator.run({
    port: r.port,
    request: wireRequest(r),
    clients,
    warmup,
    maxCalls,
    seconds: SECONDS,
    serverPid,
    ...(database ? { database } : {}),
  });
  return {
    rps: result.calls / result.seconds,
    p50: result.p50,
    p99: result.p99,
    errors: result.errors,
    bytes: result.bytes,
    cpu: result.cpu,
  };
}

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

/** One line of the workers' CPU table. */
function cpuRow(clients: number, label: string, m: Measured): string {
  const { cpu } = m;
  const server = sum(cpu.server);
  const rest = cpu.machineBusy - cpu.loadGen - server - cpu.postgres - cpu.redis;
  return (
    `| ${clients} | ${label} | ${m.rps.toFixed(0)} | ${cpu.loadGen.toFixed(2)} | ` +
    `${cpu.server.map((c) => c.toFixed(2)).join(' + ')} | ${cpu.postgres.toFixed(2)} (${cpu.postgresBackends}) | ` +
    `${cpu.redis.toFixed(2)} | ` +
    `${Math.max(0, rest).toFixed(2)} | ${Math.max(0, cpu.cpus - cpu.machineBusy).toFixed(2)} | ${cpu.interrupts.toFixed(2)} | ` +
    `${((server / m.rps) * 1000).toFixed(3)} |`
  );
}

const median = (ms: Measured[]) => [...ms].sort((a, b) => a.rps - b.rps)[Math.floor(ms.length / 2)]!;

// ---- servers -------------------------------------------------------------------------------------------------

interface Proc {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a child process and resolves when it prints a line matching `ready` (bounded). For `serve` that is the
 * CLI's "listening on" line, printed once every worker is ready (a `/ready` probe may reach a ready worker while
 * another is still starting). Its output is read until then, and drained unread after.
 */
async function startProcess(
  args: string[],
  env: Record<string, string>,
  port: number,
  ready: RegExp,
): Promise<Proc> {
  const profile = process.env.BENCH_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stdout = child.stdout!;
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => settle(new Error(`${args.join(' ')} did not start`)), 120_000);
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-64 * 1024);
      if (ready.test(seen)) settle();
    };
    const onExit = (code: number | null) => settle(new Error(`${args.join(' ')} exited with ${code}`));
    const settle = (err?: Error) => {
      clearTimeout(timer);
      stdout.off('data', onData);
      child.off('exit', onExit);
      stdout.resume(); // the server's log lines from now on: read and dropped
      if (err) reject(err);
      else resolve();
    };
    stdout.on('data', onData);
    child.once('exit', onExit);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** What `serve` prints once it (every worker) is ready. */
const SERVING = /^Skillport .* listening on /m;

interface Seeded {
  token: string;
  tenToken: string;
  manyToken: string;
  /** p50 / p99 ms of the catalog query for the user with many skills, uncached (in-process). */
  miss: [number, number];
}

/** Users, keys and skills, written through the services before the server starts (the same database). */
async function seed(env: Record<string, string>): Promise<Seeded> {
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'warn', COMMANDS_ENABLED: 'false' }));
  try {
    const user = async (name: string): Promise<[Principal, string]> => {
      const u = await ctx.accounts.createUser(
        { email: `${name}@example.com`, username: name, password: 'bench-password-long-enough' },
        { isAdmin: false, actorId: null, ip: null, publicSignup: false },
      );
      const p: Principal = { userId: u.id, isAdmin: false, via: 'session', scopes: ['mcp', 'api'] };
      return [p, (await ctx.apiTokens.create(p, keyWithScopes('bench', ['mcp']), null)).token];
    };
    const file = (p: string, text: string, executable = false) => ({
      path: p,
      data: Buffer.from(text),
      executable,
    });
    const [main, token] = await user('bench');
    const body = `# PDF processing\n\n${'Use scripts/extract.py to pull text and tables out of PDF files. '.repeat(60)}\n`;
    await ctx.skills.create(
      main,
      {
        rootFolder: 'pdf-tools',
        skipped: [],
        files: [
          file(
            'SKILL.md',
            `---\nname: pdf-tools\ndescription: Extract text and tables from PDFs.\n---\n${body}`,
          ),
          file('references/forms.md', '# Forms\n'.repeat(50)),
          file('scripts/extract.py', 'print("extract")\n', true),
          { path: 'assets/logo.png', data: Buffer.alloc(2048, 0), executable: false },
        ],
      },
      null,
    );
    const library = async (p: Principal, count: number) => {
      for (let i = 0; i < count; i++) {
        const name = `skill-${String(i).padStart(4, '0')}`;
        const description = `Skill number ${i}, handles topic ${i % 37} for reports of kind ${i % 11}.`;
        await ctx.skills.create(
          p,
          {
            rootFolder: name,
            skipped: [],
            files: [file('SKILL.md', `---\nname: ${name}\ndescription: ${description}\n---\n# ${name}\n`)],
          },
          null,
        );
      }
    };
    const [ten, tenToken] = await user('ten');
    await library(ten, Math.min(10, SKILLS));
    const [many, manyToken] = await user('many');
    const t0 = performance.now();
    await library(many, SKILLS);
    console.error(`seeded ${SKILLS} skills in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const times: number[] = [];
    const uncached = userLibrary(ctx.skills, many.userId);
    for (let i = 0; i < (SKILLS ? 30 : 0); i++) {
      const s = performance.now();
      await uncached.catalog();
      times.push(performance.now() - s);
    }
    return { token, tenToken, manyToken, miss: [percentile(times, 50), percentile(times, 99)] };
  } finally {
    await ctx.close();
  }
}

// ---- the run -------------------------------------------------------------------------------------------------

async function main(): Promise<string[]> {
  const lines: string[] = [];
  const out = (l = '') => {
    lines.push(l);
    console.log(l);
  };
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skillport-mcp-bench-'));
  const dbName = `skillport_mcp_bench_${randomBytes(4).toString('hex')}`;
  let databaseUrl: string | undefined;
  if (ADMIN_URL) {
    await runStatement(ADMIN_URL, `CREATE DATABASE ${dbName}`);
    const u = new URL(ADMIN_URL);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
    database = dbName;
  }
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SECRET_KEY: 'b'.repeat(64),
    LOG_LEVEL: 'info',
    COMMANDS_ENABLED: 'false',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  const running: Proc[] = [];
  generator = startLoadGenerator();
  try {
    const seeded = await seed(env);
    const ours = await startProcess(['src/cli/main.ts', 'serve'], env, await freePort(), SERVING);
    running.push(ours);
    const args = { skill_name: 'pdf-tools' };
    const first = await load(
      await capture(`${ours.url}/mcp`, seeded.token, 'modern', 'load_skill', args),
      1,
      ours.pid,
      0,
      1,
    );
    if (first.errors) throw new Error('load_skill did not answer a successful tool result');
    const answerBytes = first.bytes;
    // The bare server's answer is the same size as Skillport's (its text plus the same JSON-RPC envelope).
    const bare = await startProcess(
      ['bench/mcp-bare-server.ts'],
      { BARE_TOKEN: seeded.token, BARE_TEXT_BYTES: String(answerBytes - 60) },
      await freePort(),
      /^listening$/m,
    );
    running.push(bare);
    out(
      `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load average ` +
        `${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} at the start; database: ${databaseUrl ? 'postgres' : 'pglite'}; ` +
        `≤ ${CALLS} calls or ≤ ${SECONDS} s per measurement, median of ${ROUNDS} interleaved rounds; ` +
        `load_skill answer ${answerBytes} bytes.`,
    );
    out();
    out(
      '| era | clients | bare SDK calls/s | Skillport calls/s | ratio | bare p50 / p99 ms | Skillport p50 / p99 ms | cores: load gen / bare / Skillport |',
    );
    out('|---|---|---|---|---|---|---|---|');
    for (const era of ERAS) {
      const replays = await Promise.all(
        [bare, ours].map((s) => capture(`${s.url}/mcp`, seeded.token, era, 'load_skill', args)),
      );
      for (const clients of LEVELS) {
        const runs: [Measured[], Measured[]] = [[], []];
        for (let r = 0; r < ROUNDS; r++) {
          runs[0].push(await load(replays[0]!, clients, bare.pid));
          runs[1].push(await load(replays[1]!, clients, ours.pid));
        }
        const [b, o] = [median(runs[0]), median(runs[1])];
        const errors = [...runs[0], ...runs[1]].reduce((n, m) => n + m.errors, 0);
        if (errors) console.error(`  ${errors} failed calls in ${era}/${clients}`);
        out(
          `| ${era} | ${clients} | ${b.rps.toFixed(0)} | ${o.rps.toFixed(0)} | ${((o.rps / b.rps) * 100).toFixed(0)}% | ` +
            `${b.p50.toFixed(2)} / ${b.p99.toFixed(2)} | ${o.p50.toFixed(2)} / ${o.p99.toFixed(2)} | ` +
            `${Math.max(b.cpu.loadGen, o.cpu.loadGen).toFixed(2)} / ${sum(b.cpu.server).toFixed(2)} / ${sum(o.cpu.server).toFixed(2)} |`,
        );
      }
    }

    if (SKILLS > 0) {
      const sequential = async (token: string) =>
        load(
          await capture(`${ours.url}/mcp`, token, 'modern', 'load_skill_metadata', {}),
          1,
          ours.pid,
          50,
          1000,
        );
      const ten = await sequential(seeded.tenToken);
      const many = await sequential(seeded.manyToken);
      const tenAgain = await sequential(seeded.tenToken);
      const manyAgain = await sequential(seeded.manyToken);
      const [t, m] = [ten.p50 <= tenAgain.p50 ? ten : tenAgain, many.p50 <= manyAgain.p50 ? many : manyAgain];
      out();
      out(
        `load_skill_metadata, one client, sequential calls after a warm-up (the better of two interleaved runs):`,
      );
      out();
      out('| user | p50 ms | p99 ms | calls/s | answer |');
      out('|---|---|---|---|---|');
      out(
        `| ${Math.min(10, SKILLS)} skills | ${t.p50.toFixed(2)} | ${t.p99.toFixed(2)} | ${t.rps.toFixed(0)} | ${(t.bytes / 1024).toFixed(1)} KB |`,
      );
      out(
        `| ${SKILLS} skills | ${m.p50.toFixed(2)} | ${m.p99.toFixed(2)} | ${m.rps.toFixed(0)} | ${(m.bytes / 1024).toFixed(0)} KB |`,
      );
      out(`| ratio ${SKILLS} / ${Math.min(10, SKILLS)} (p50) | ${(m.p50 / t.p50).toFixed(2)}× | | | |`);
      out(
        `| cold: the catalog query alone at ${SKILLS} skills (in-process) | ${seeded.miss[0].toFixed(2)} | ${seeded.miss[1].toFixed(2)} | | |`,
      );
    }

    if (databaseUrl) {
      await bare.stop();
      await ours.stop();
      running.length = 0;
      const redisEnv = { ...env, REDIS_URL, REDIS_PREFIX: `bench-${randomBytes(4).toString('hex')}:` };
      const one = await startProcess(['src/cli/main.ts', 'serve'], redisEnv, await freePort(), SERVING);
      running.push(one);
      const several = await startProcess(
        ['src/cli/main.ts', 'serve', '--workers', String(WORKERS)],
        redisEnv,
        await freePort(),
        SERVING,
      );
      running.push(several);
      const replays = await Promise.all(
        [one, several].map((s) => capture(`${s.url}/mcp`, seeded.token, 'modern', 'load_skill', args)),
      );
      out();
      out(`load_skill (modern), PostgreSQL and Redis: \`serve --workers ${WORKERS}\` against \`serve\`:`);
      out();
      out(
        `| clients | 1 process calls/s | ${WORKERS} workers calls/s | ratio | 1 process p50 / p99 ms | ${WORKERS} workers p50 / p99 ms | cores: load gen / 1 process / ${WORKERS} workers |`,
      );
      out('|---|---|---|---|---|---|---|');
      const cpuRows: string[] = [];
      for (const clients of LEVELS.filter((c) => c > 1)) {
        const runs: [Measured[], Measured[]] = [[], []];
        for (let r = 0; r < ROUNDS; r++) {
          runs[0].push(await load(replays[0]!, clients, one.pid));
          runs[1].push(await load(replays[1]!, clients, several.pid));
        }
        const [a, w] = [median(runs[0]), median(runs[1])];
        const errors = [...runs[0], ...runs[1]].reduce((n, m) => n + m.errors, 0);
        if (errors) console.error(`  ${errors} failed calls with ${clients} clients`);
        out(
          `| ${clients} | ${a.rps.toFixed(0)} | ${w.rps.toFixed(0)} | ${(w.rps / a.rps).toFixed(2)}× | ` +
            `${a.p50.toFixed(2)} / ${a.p99.toFixed(2)} | ${w.p50.toFixed(2)} / ${w.p99.toFixed(2)} | ` +
            `${Math.max(a.cpu.loadGen, w.cpu.loadGen).toFixed(2)} / ${sum(a.cpu.server).toFixed(2)} / ${sum(w.cpu.server).toFixed(2)} |`,
        );
        cpuRows.push(cpuRow(clients, '1 process', a), cpuRow(clients, `${WORKERS} workers`, w));
      }
      out();
      out(
        `Where the CPU went in those (median) rounds, in cores of the machine's ${os.cpus().length}: server processes ` +
          `(the primary first, then each worker), the PostgreSQL backends of the bench's database (how many), Redis, everything ` +
          `else that ran (other processes) and idle; the kernel's interrupt work (mostly loopback networking, already ` +
          `inside the processes' figures); and the server's CPU per call:`,
      );
      out();
      out(
        '| clients | server | calls/s | load gen | server processes | PostgreSQL (backends) | Redis | rest of the machine | idle | interrupts | server ms CPU per call |',
      );
      out('|---|---|---|---|---|---|---|---|---|---|---|');
      for (const row of cpuRows) out(row);
    }
    out();
    out(
      `load average at the end: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    return lines;
  } finally {
    for (const p of running.reverse()) await p.stop();
    await generator.stop();
    if (ADMIN_URL) await runStatement(ADMIN_URL, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
