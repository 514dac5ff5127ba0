/**
 * HTTP and accounts benchmark (issue 2). Build first (`npm run build`), then either
 * `node --import tsx bench/http.bench.ts` (the machine's Node) or `npx tsx bench/http.bench.ts`.
 *
 * Servers run in processes of their own, on the embedded database in a fresh temporary data dir (or on
 * PostgreSQL with BENCH_DATABASE_URL=postgres://…/some_db), with the default LOG_LEVEL=info (one access-log
 * line per request, written to a file). It measures:
 *
 * 1. Start-up time on an existing data dir: the real CLI (`node bin/skillport.js serve`) is started on a fresh
 *    DATA_DIR (creating and migrating the database), then BENCH_STARTS more times on the same DATA_DIR; each
 *    start is timed from spawn until /ready answers 200, and the median of the restarts is the figure.
 * 2. Idle memory: process_resident_memory_bytes from /metrics right after the last start.
 * 3. Login latency (p50/p99) over BENCH_LOGINS sequential logins on that server (argon2id verification included).
 * 4. Requests per second over BENCH_CONNECTIONS keep-alive connections, BENCH_REQUESTS requests per round (or
 *    BENCH_SECONDS, whichever ends first), median of BENCH_ROUNDS interleaved rounds, all in one server process:
 *    the application exactly as `serve` builds it, plus two no-op routes that differ only in `requirePermission`:
 *      - GET /health and GET /api/bench/noop without credentials (the baselines),
 *      - GET /api/bench/noop-auth with a personal API token (`api` scope) and with a console JWT,
 *      - GET /api/v1/users/me (one database read) with the API token and with the JWT.
 *    The no-op pair isolates what authentication costs; /users/me shows a real endpoint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import type { Context } from 'hono';
import { loadConfig } from '../src/config/index.js';
import { createHttpApp } from '../src/server/http-app.js';
import { requirePermission } from '../src/http/middleware.js';
import { createContext } from '../src/server/context.js';
import { freePort } from '../test/helpers/pg-cluster.js';
import { percentile, request } from './lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'skillport.js');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LOGINS = Number(process.env.BENCH_LOGINS ?? 200);
const STARTS = Number(process.env.BENCH_STARTS ?? 5);
const METRICS_TOKEN = 'bench-metrics-token-0123456789';
const DATABASE_URL = process.env.BENCH_DATABASE_URL;

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });

/** A request on this bench's keep-alive agent; objects are sent as JSON. */
const req = (
  port: number,
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body?: unknown,
) => request(agent, port, method, urlPath, headers, body === undefined ? undefined : JSON.stringify(body));

interface Server {
  port: number;
  child: ChildProcess;
  startupMs: number;
  stop(): Promise<void>;
}

/**
 * Spawns a server and resolves once /ready answers; startupMs is spawn → first 200. `cli` is the real
 * `node bin/skillport.js serve`; `noop` is this file in server mode (same app plus the two no-op routes).
 */
async function startServer(kind: 'cli' | 'noop', dataDir: string, logFile: string): Promise<Server> {
  const port = await freePort();
  const log = openSync(logFile, 'a');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    LOG_LEVEL: 'info',
    METRICS_TOKEN,
    AUTH_RATE_LIMIT_PER_IP: '100000',
    AUTH_RATE_LIMIT_PER_ACCOUNT: '100000',
    PORT: String(port),
    DATA_DIR: dataDir,
  };
  if (DATABASE_URL) Object.assign(env, { DATABASE_URL, SECRET_KEY: 'bench-secret-key-0123456789abcdefghij' });
  const args =
    kind === 'cli'
      ? [BIN, 'serve']
      : [...process.execArgv.filter((a) => a !== '--eval'), fileURLToPath(import.meta.url), '--noop-server'];
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    // The CLI must not pick up a developer's .env; the no-op server resolves `--import tsx` from the repo.
    cwd: kind === 'cli' ? dataDir : ROOT,
    env,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const deadline = started + 60_000;
  for (;;) {
    if (exited) throw new Error(`server exited during start-up; see ${logFile}`);
    if (performance.now() > deadline) throw new Error('server was not ready within 60 s');
    // /ready, not /health: /health answers (liveness) as soon as the port is bound, before the database opens.
    const ok = await req(port, 'GET', '/ready').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 5)); // polling interval bounds the start-up error to ~5 ms
  }
  const startupMs = performance.now() - started;
  return {
    port,
    child,
    startupMs,
    async stop() {
      child.kill('SIGTERM');
      await exit;
    },
  };
}

/** Sends up to `count` requests (or for `seconds`) over CONNECTIONS concurrent keep-alive connections. */
async function load(
  port: number,
  urlPath: string,
  headers: Record<string, string>,
  count: number,
  seconds: number,
): Promise<{ rps: number; done: number; errors: number }> {
  let issued = 0;
  let done = 0;
  let errors = 0;
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  const worker = async () => {
    while (issued < count && performance.now() < stopAt) {
      issued++;
      const r = await req(port, 'GET', urlPath, headers);
      if (r.status !== 200) errors++;
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const elapsed = (performance.now() - started) / 1000;
  return { rps: done / elapsed, done, errors };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function metric(port: number, name: string): Promise<number> {
  const r = await req(port, 'GET', '/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
  const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(r.body);
  if (!m) throw new Error(`metric ${name} not found (HTTP ${r.status})`);
  return Number(m[1]);
}

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skillport-bench-http-'));
  const logFile = path.join(dataDir, 'server.log');
  const table: [string, string][] = [];
  let nodeVersion: string;
  try {
    // 1. Start-up: the first run creates and migrates the database; the restarts are the figure.
    const first = await startServer('cli', dataDir, logFile);
    await first.stop();
    const restarts: number[] = [];
    for (let i = 0; i < STARTS - 1; i++) {
      const s = await startServer('cli', dataDir, logFile);
      restarts.push(s.startupMs);
      await s.stop();
    }
    const cli = await startServer('cli', dataDir, logFile);
    restarts.push(cli.startupMs);
    table.push(['start-up, fresh data dir (create + migrate)', `${first.startupMs.toFixed(0)} ms`]);
    table.push([
      'start-up, existing data dir',
      `${median(restarts).toFixed(0)} ms (median of ${restarts.length}; min ${Math.min(...restarts).toFixed(0)} ms)`,
    ]);

    // 2. Idle memory, right after start.
    const idleRss = await metric(cli.port, 'skillport_process_resident_memory_bytes');
    table.push(['idle memory (RSS after start)', `${(idleRss / 2 ** 20).toFixed(1)} MiB`]);
    const versions = await req(cli.port, 'GET', '/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    nodeVersion = /nodejs_version_info\{version="([^"]+)"/.exec(versions.body)?.[1] ?? '?';

    // Credentials: the first account (admin), a console JWT and an `api` token.
    const password = 'bench-password-long-enough';
    const reg = await req(
      cli.port,
      'POST',
      '/api/v1/auth/register',
      {},
      {
        email: 'bench@example.com',
        username: 'bench',
        password,
      },
    );
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.body}`);
    const tok = await req(
      cli.port,
      'POST',
      '/api/v1/tokens',
      { authorization: `Bearer ${JSON.parse(reg.body).access_token}` },
      { name: 'bench', scopes: ['api'] },
    );
    const apiToken = JSON.parse(tok.body).token as string;

    // 3. Login latency, sequential.
    const loginMs: number[] = [];
    let jwt = '';
    for (let i = 0; i < 10 + LOGINS; i++) {
      const started = performance.now();
      const r = await req(cli.port, 'POST', '/api/v1/auth/login', {}, { login: 'bench', password });
      if (r.status !== 200) throw new Error(`login: ${r.status} ${r.body}`);
      if (i >= 10) loginMs.push(performance.now() - started);
      jwt = JSON.parse(r.body).access_token;
    }
    table.push(['login latency p50', `${percentile(loginMs, 50).toFixed(1)} ms`]);
    table.push(['login latency p99', `${percentile(loginMs, 99).toFixed(1)} ms`]);
    await cli.stop();

    // 4. Throughput, one server process, rounds interleaved so drift affects every case alike.
    const server = await startServer('noop', dataDir, logFile);
    const port = server.port;
    const token = { authorization: `Bearer ${apiToken}` };
    const session = { authorization: `Bearer ${jwt}` };
    const cases = [
      { name: 'GET /health, no auth', path: '/health', headers: {} },
      { name: 'GET no-op, no auth', path: '/api/bench/noop', headers: {} },
      { name: 'GET no-op, API token', path: '/api/bench/noop-auth', headers: token },
      { name: 'GET no-op, JWT', path: '/api/bench/noop-auth', headers: session },
      { name: 'GET /api/v1/users/me, API token', path: '/api/v1/users/me', headers: token },
      { name: 'GET /api/v1/users/me, JWT', path: '/api/v1/users/me', headers: session },
    ];
    for (const c of cases) await load(port, c.path, c.headers, 2000, 5); // warm-up
    const results = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        const r = await load(port, c.path, c.headers, REQUESTS, SECONDS);
        if (r.errors) throw new Error(`${c.name}: ${r.errors} failed requests`);
        results.get(c.name)!.push(r.rps);
      }
    }
    const baseline = median(results.get('GET no-op, no auth')!);
    for (const c of cases) {
      const rps = median(results.get(c.name)!);
      table.push([
        `${c.name}, req/s`,
        `${rps.toFixed(0)} (${(rps / baseline).toFixed(2)}× no-op without auth)`,
      ]);
    }
    const loadedRss = await metric(port, 'skillport_process_resident_memory_bytes');
    table.push(['memory after the load (RSS)', `${(loadedRss / 2 ** 20).toFixed(1)} MiB`]);
    await server.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    agent.destroy();
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nSkillport HTTP benchmark — ${DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}, server on Node ${nodeVersion}, ` +
      `${os.cpus().length} × ${cpu}\n${CONNECTIONS} keep-alive connections, ${REQUESTS} requests per round ` +
      `(≤ ${SECONDS} s), median of ${ROUNDS} rounds; ${LOGINS} logins\n`,
  );
  const width = Math.max(...table.map(([k]) => k.length));
  console.log(`| ${'measure'.padEnd(width)} | result`);
  console.log(`|${'-'.repeat(width + 2)}|${'-'.repeat(40)}`);
  for (const [k, v] of table) console.log(`| ${k.padEnd(width)} | ${v}`);
}

/** Server mode: the app exactly as `serve` builds it, plus a no-op route with and without requirePermission. */
async function noopServer() {
  const config = loadConfig(process.env);
  const ctx = await createContext(config);
  const { app } = createHttpApp(ctx);
  const ok = (c: Context) => c.json({ ok: true });
  app.get('/api/bench/noop', ok);
  app.get('/api/bench/noop-auth', requirePermission(ctx.authenticator, 'users.read-self'), ok);
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: '127.0.0.1' });
  process.once('SIGTERM', () => {
    server.close();
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    void ctx.close().then(() => process.exit(0));
  });
}

(process.argv.includes('--noop-server') ? noopServer() : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
