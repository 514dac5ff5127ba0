/**
 * Embedded database (PGlite) benchmark: `npm run build && node --import tsx bench/pglite.bench.ts`.
 *
 * 1. bytea parameters, in this process on one in-memory PGlite: inserting a 10 MiB value with the serializer
 *    Skillport uses (the bytes as a binary Bind parameter, src/db/index.ts), with the hex-string serializer it used
 *    before, and with PGlite's default; BENCH_ROUNDS interleaved rounds, median.
 * 2. A 10 MiB upload end to end (`POST /api/v1/skills`, a zip of one incompressible file) against the built server
 *    (`node bin/skillport.js serve`, embedded database), BENCH_UPLOADS uploads, median.
 * 3. Start-up and memory, every process started from scratch, BENCH_STARTS times each, interleaved:
 *    - bare PGlite: `node -e` opening an existing data dir and answering `select 1` (time from spawn to the answer,
 *      then its RSS);
 *    - the server on a fresh data dir: creates and migrates the database; RSS once /ready answers;
 *    - the server on that existing data dir: time from spawn until /ready answers (polled every 5 ms), RSS.
 *    Every process's RSS is read twice: at once, and again after BENCH_SETTLE_MS (3000) ms of idling, when V8 has
 *    given back the pages the start's allocations grew (both processes alike; the issue's "stays at … until
 *    restarted" is about that steady state). Ratios are to the bare PGlite open of the same round. With BENCH_BIN_BEFORE=<another build's
 *    bin/skillport.js> (e.g. the commit before a change, built in a scratch copy), that build's server is started
 *    on the same existing data dir in every round too, for a before/after in one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import yazl from 'yazl';
import { freePort } from '../test/helpers/pg-cluster.js';
import { percentile, request } from './lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/skillport.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 5);
const STARTS = Number(process.env.BENCH_STARTS ?? 3);
const BEFORE = process.env.BENCH_BIN_BEFORE;
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 3000);
const MiB = 2 ** 20;

const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs: number[]) => percentile(xs, 50);
/** utime + stime of a process (every thread), in ms (clock ticks are 10 ms on Linux). */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const rssMiB = (pid: number) =>
  Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function byteaSerializers(): Promise<void> {
  const db = await PGlite.create();
  await db.exec('create table t (b bytea)');
  const value = Buffer.alloc(10 * MiB, 7);
  const variants: Array<[string, ((v: Uint8Array) => unknown) | null]> = [
    ['binary parameter (now)', (v) => v],
    ['hex string (before)', (v) => `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`],
    ["PGlite's default", null],
  ];
  const times = new Map(variants.map(([name]) => [name, [] as number[]]));
  for (let round = -1; round < ROUNDS; round++) {
    for (const [name, serialize] of variants) {
      const t = process.hrtime.bigint();
      await db.query('insert into t values ($1)', [value], {
        ...(serialize ? { serializers: { 17: serialize as (v: unknown) => string } } : {}),
      });
      if (round >= 0) times.get(name)!.push(since(t));
      await db.exec('truncate t');
    }
  }
  await db.close();
  const now = median(times.get(variants[0]![0])!);
  console.log(`\n## bytea: insert one 10 MiB value (median of ${ROUNDS}, ms)`);
  for (const [name, xs] of times) {
    console.log(
      `${name.padEnd(26)} ${median(xs).toFixed(0).padStart(7)}   ${(median(xs) / now).toFixed(1)}×`,
    );
  }
}

interface Server {
  child: ChildProcess;
  port: number;
  readyMs: number;
}

async function startServer(dataDir: string, bin = BIN): Promise<Server> {
  const port = await freePort();
  const t = process.hrtime.bigint();
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      COMMANDS_ENABLED: 'false',
      AUTH_RATE_LIMIT_PER_IP: '1000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const agent = new http.Agent({ keepAlive: false });
  for (;;) {
    const status = await request(agent, port, 'GET', '/ready').then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return { child, port, readyMs: since(t) };
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stopServer(s: Server): Promise<void> {
  const gone = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await gone;
}

/** Bare PGlite in a process of its own: ms from spawn to the answer of `select 1` on `dir`; it stays up until `stop`. */
function bareOpen(dir: string): Promise<{ ms: number; child: ChildProcess; stop(): Promise<void> }> {
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script = `require(${JSON.stringify(pglite)}).PGlite.create({ dataDir: process.argv[1] })
    .then((db) => db.query('select 1')).then(() => { console.log('ready'); setInterval(() => {}, 1000); });`;
  const t = process.hrtime.bigint();
  const child = spawn(process.execPath, ['-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve({ ms: since(t), child, stop }));
    child.once('error', reject);
  });
}

async function zipOf(bytes: Buffer): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from('---\nname: big\ndescription: A big skill.\n---\n# Big\n'), 'big/SKILL.md');
  zip.addBuffer(bytes, 'big/data.bin', { compress: false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function uploads(server: Server): Promise<void> {
  const agent = new http.Agent({ keepAlive: true });
  const reg = await request(
    agent,
    server.port,
    'POST',
    '/api/v1/auth/register',
    {},
    JSON.stringify({ email: 'u@example.com', username: 'uploader', password: 'bench-password-long' }),
  );
  const token = (JSON.parse(reg.body) as { access_token: string }).access_token;
  const times: number[] = [];
  for (let i = -1; i < UPLOADS; i++) {
    const zip = await zipOf((await import('node:crypto')).randomBytes(10 * MiB));
    const t = process.hrtime.bigint();
    const r = await request(
      agent,
      server.port,
      'POST',
      '/api/v1/skills',
      {
        authorization: `Bearer ${token}`,
        'content-type': 'application/zip',
      },
      zip,
    );
    if (r.status !== 201 && !(r.status === 409 && i >= 0)) throw new Error(`upload: ${r.status} ${r.body}`);
    if (i >= 0) times.push(since(t));
    await request(agent, server.port, 'DELETE', '/api/v1/skills/big', { authorization: `Bearer ${token}` });
  }
  console.log(
    `\n## 10 MiB upload through the server (new content, median of ${UPLOADS}): ${median(times).toFixed(0)} ms (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`,
  );
}

/** ms to ready, CPU used by then, RSS at ready, and RSS once the process sat idle for SETTLE_MS (MiB), per start. */
interface Start {
  ms: number;
  /** CPU time the process used until then (all its threads), ms. */
  cpu: number;
  rss: number;
  settled: number;
}

/** RSS now, and again after SETTLE_MS of idling (V8 gives back the start's young-generation pages late). */
async function rssReadings(pid: number): Promise<{ rss: number; settled: number }> {
  const rss = rssMiB(pid);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return { rss, settled: rssMiB(pid) };
}

async function startups(): Promise<void> {
  const cases = new Map<string, Start[]>(
    ['bare', 'fresh', 'existing', 'before'].map((name) => [name, [] as Start[]]),
  );
  const record = async (name: string, ms: number, pid: number) =>
    cases.get(name)!.push({ ms, cpu: cpuMs(pid), ...(await rssReadings(pid)) });
  let uploaded = false;
  for (let i = 0; i < STARTS; i++) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skillport-bench-pglite-'));
    const first = await startServer(dataDir);
    await record('fresh', first.readyMs, first.child.pid!);
    await stopServer(first);
    const bare = await bareOpen(path.join(dataDir, 'db'));
    await record('bare', bare.ms, bare.child.pid!);
    await bare.stop();
    const again = await startServer(dataDir);
    await record('existing', again.readyMs, again.child.pid!);
    if (!uploaded) {
      await uploads(again);
      uploaded = true;
    }
    await stopServer(again);
    if (BEFORE) {
      const old = await startServer(dataDir, BEFORE);
      await record('before', old.readyMs, old.child.pid!);
      await stopServer(old);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  const of = (name: string, key: keyof Start) => median(cases.get(name)!.map((start) => start[key]));
  const b = of('bare', 'ms');
  console.log(`\n## Start-up and memory (median of ${STARTS}, processes started from scratch)`);
  console.log(
    `${'case'.padEnd(40)} ready ms   ×bare  CPU ms   RSS MiB  −bare   RSS after ${SETTLE_MS / 1000} s idle  −bare`,
  );
  const row = (label: string, name: string) =>
    console.log(
      `${label.padEnd(40)} ${of(name, 'ms').toFixed(0).padStart(8)} ${`${(of(name, 'ms') / b).toFixed(2)}×`.padStart(7)} ${of(name, 'cpu').toFixed(0).padStart(7)} ${of(name, 'rss').toFixed(0).padStart(8)} ${(of(name, 'rss') - of('bare', 'rss')).toFixed(0).padStart(6)} ${of(name, 'settled').toFixed(0).padStart(18)} ${(of(name, 'settled') - of('bare', 'settled')).toFixed(0).padStart(6)}`,
    );
  row('bare PGlite: open existing dir', 'bare');
  row('server: fresh data dir (create+migrate)', 'fresh');
  row('server: existing data dir', 'existing');
  if (BEFORE) row('before: server, existing data dir', 'before');
}

async function main() {
  console.log(
    `# PGlite — ${os.cpus().length} CPUs, Node ${process.version}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await byteaSerializers();
  await startups();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
