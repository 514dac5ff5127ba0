/**
 * Uploads benchmark (issue 9): `node --import tsx bench/uploads.bench.ts`; with BENCH_DATABASE_URL also on
 * PostgreSQL (a database of its own is created next to the one in the URL, and dropped afterwards).
 *
 * Every server is the real CLI (`src/cli/main.ts serve` through tsx) in a process of its own, on a fresh data dir,
 * LOG_LEVEL=warn. The load generator is this process.
 *
 * 1. Side channel: does an upload's time tell whether another user already stored the same bytes? BENCH_ROUNDS
 *    (8) rounds; in each, user A first uploads a fresh BENCH_FILE_MB (15) MiB random file (zipped without
 *    compression), then, in alternating order from round to round:
 *      - new bytes: user B uploads another fresh random file of that size in a new skill (nobody has its bytes),
 *      - cross-user: B uploads A's bytes in a new skill of B's,
 *    and finally A uploads A's bytes again as a new version of A's skill (same user).
 *    Time is request start → 201. The cross-user median must match the new-bytes one within noise.
 * 2. Stall: BENCH_HEAVY (8) concurrent uploads of the heaviest archives the default limits allow (see
 *    test/helpers/heavy-uploads.ts: half with a full frontmatter, a 19.9 MiB SKILL.md and four 19.9 MiB files,
 *    half with 1,000 files of 100 KiB; ~100 MiB unpacked each), while GET /health is sampled every 20 ms over one
 *    keep-alive connection. Reports /health p50/p99/max, the server's RSS before and its peak (VmHWM) during.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { heavyArchive, sampleHealth, type HeavyKind } from '../test/helpers/heavy-uploads.js';
import { freePort } from '../test/helpers/pg-cluster.js';
import { yazlZip } from '../test/helpers/zips.js';
import { percentile, request, runStatement } from './lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;
const DATABASE_URL = process.env.BENCH_DATABASE_URL;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const FILE_MB = Number(process.env.BENCH_FILE_MB ?? 15);
const HEAVY = Number(process.env.BENCH_HEAVY ?? 8);

interface Server {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startServer(backend: 'pglite' | 'postgres', label: string): Promise<Server> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `skillport-bench-uploads-${label}-`));
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    AUTH_RATE_LIMIT_PER_IP: '100000',
  };
  let dbName: string | null = null;
  if (backend === 'postgres') {
    dbName = `skillport_bench_uploads_${process.pid}_${label}`;
    await runStatement(DATABASE_URL!, `create database ${dbName}`);
    const url = new URL(DATABASE_URL!);
    url.pathname = `/${dbName}`;
    env.DATABASE_URL = url.toString();
    env.SECRET_KEY = randomBytes(32).toString('hex');
  }
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) =>
      http
        .get({ host: '127.0.0.1', port, path: '/health' }, (res) => resolve(res.statusCode === 200))
        .on('error', () => resolve(false)),
    );
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
      if (dbName) await runStatement(DATABASE_URL!, `drop database if exists ${dbName} with (force)`);
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

async function register(port: number, name: string): Promise<string> {
  const res = await request(
    agent,
    port,
    'POST',
    '/api/v1/auth/register',
    {},
    JSON.stringify({
      email: `${name}@example.com`,
      username: name,
      password: `pw-${name}-long-enough`,
    }),
  );
  if (res.status !== 201) throw new Error(`register: ${res.status} ${res.body}`);
  return JSON.parse(res.body).access_token as string;
}

async function upload(port: number, token: string, urlPath: string, zip: Buffer): Promise<number> {
  const started = performance.now();
  const res = await request(
    agent,
    port,
    'POST',
    urlPath,
    {
      authorization: `Bearer ${token}`,
      'content-type': 'application/zip',
    },
    zip,
  );
  if (res.status !== 201) throw new Error(`upload ${urlPath}: ${res.status} ${res.body.slice(0, 300)}`);
  return performance.now() - started;
}

const zipOf = (name: string, data: Buffer, version = 1) =>
  yazlZip([
    {
      path: `${name}/SKILL.md`,
      data: `---\nname: ${name}\ndescription: Version ${version} of ${name}. Use it when benchmarking.\n---\n# ${name}\n`,
    },
    { path: `${name}/data.bin`, data, compress: false },
  ]);

async function sideChannel(port: number) {
  const alice = await register(port, 'alice');
  const bob = await register(port, 'bob');
  const times = { new: [] as number[], cross: [] as number[], same: [] as number[] };
  // Round -1 is a warm-up, not counted. The new and cross-user uploads alternate in order from round to round,
  // so that whatever the previous upload leaves behind (WAL flushes, garbage) weighs on both alike.
  for (let round = -1; round < ROUNDS; round++) {
    const held = randomBytes(FILE_MB * MiB);
    const a = `a-${round + 1}`;
    await upload(port, alice, '/api/v1/skills', await zipOf(a, held));
    const cross = await zipOf(`b-${round + 1}`, held);
    const fresh = await zipOf(`n-${round + 1}`, randomBytes(FILE_MB * MiB));
    let tNew: number;
    let tCross: number;
    if (round % 2 === 0) {
      tNew = await upload(port, bob, '/api/v1/skills', fresh);
      tCross = await upload(port, bob, '/api/v1/skills', cross);
    } else {
      tCross = await upload(port, bob, '/api/v1/skills', cross);
      tNew = await upload(port, bob, '/api/v1/skills', fresh);
    }
    const tSame = await upload(port, alice, `/api/v1/skills/${a}/versions`, await zipOf(a, held, 2));
    if (round < 0) continue;
    times.new.push(tNew);
    times.cross.push(tCross);
    times.same.push(tSame);
  }
  return times;
}

function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

async function stall(port: number, pid: number) {
  const kinds: HeavyKind[] = ['large-files', 'many-files'];
  const tokens = await Promise.all(Array.from({ length: HEAVY }, (_, i) => register(port, `heavy${i}`)));
  const archives = tokens.map((_, i) => heavyArchive(kinds[i % 2]!, `heavy-${i}`));
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const before = memory(pid).rss;
  const health = sampleHealth(`http://127.0.0.1:${port}`);
  const started = performance.now();
  await Promise.all(tokens.map((token, i) => upload(port, token, '/api/v1/skills', archives[i]!)));
  const seconds = (performance.now() - started) / 1000;
  const latencies = await health.stop();
  return { latencies, seconds, before, peak: memory(pid).peak };
}

const med = (xs: number[]) => percentile(xs, 50);
const f = (x: number) => x.toFixed(0);

async function main() {
  const backends: Array<'pglite' | 'postgres'> = DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
  console.log(
    `Node ${process.version}, ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  for (const backend of backends) {
    const server = await startServer(backend, backend);
    try {
      const t = await sideChannel(server.port);
      console.log(
        `\n[${backend}] upload of a ${FILE_MB} MiB file, ${ROUNDS} rounds: median (min / max) ms, ratio to new bytes`,
      );
      for (const [label, xs] of [
        ['new bytes (nobody has them)', t.new],
        ['same bytes, another user has them', t.cross],
        ['same bytes, own earlier version', t.same],
      ] as const) {
        console.log(
          `  ${label.padEnd(36)} ${f(med(xs)).padStart(6)} (${f(Math.min(...xs))} / ${f(Math.max(...xs))})  ${(med(xs) / med(t.new)).toFixed(2)}×`,
        );
      }
      if (HEAVY === 0) continue;
      const s = await stall(server.port, server.pid);
      console.log(
        `\n[${backend}] ${HEAVY} concurrent uploads at the limits, done in ${s.seconds.toFixed(1)} s`,
      );
      console.log(
        `  /health: ${s.latencies.length} samples, p50 ${f(percentile(s.latencies, 50))} ms, p99 ${f(percentile(s.latencies, 99))} ms, max ${f(Math.max(...s.latencies))} ms`,
      );
      console.log(
        `  RSS: ${f(s.before / MiB)} MiB before, peak ${f(s.peak / MiB)} MiB, growth ${f((s.peak - s.before) / MiB)} MiB`,
      );
    } finally {
      await server.stop();
    }
  }
  agent.destroy();
}

await main();
