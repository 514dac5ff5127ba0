/**
 * Skill library benchmark (issue 3): `node --import tsx bench/skills.bench.ts` (the machine's Node) or
 * `npx tsx bench/skills.bench.ts`.
 *
 * Every server is this file in server mode (`--server`): `startServer` exactly as `serve` builds it, in a process
 * of its own (so that its memory can be read from /proc and the load generator does not share its event loop),
 * on embedded PGlite in a fresh data dir, and on PostgreSQL when BENCH_DATABASE_URL is set (the bench creates a
 * fresh database next to the one named in the URL for every server, and drops it afterwards). LOG_LEVEL=info, the
 * log written to a file. The parent drives it over IPC (create a user and token, seed the database) and HTTP.
 *
 * 1. Upload: BENCH_UPLOADS (5) archives of ~BENCH_ZIP_MB (10) MiB each — SKILL.md, incompressible random binary
 *    files and some text — POSTed as raw `application/zip` bodies, one at a time:
 *      - new content: each upload a new skill with fresh random bytes (every blob is new);
 *      - identical content: the same archive again as new versions of one skill (every blob deduplicated).
 *    Time is request start → 201 received. Memory: the server's peak RSS (VmHWM in /proc/<pid>/status, reset to
 *    the current RSS through /proc/<pid>/clear_refs before each series) minus its RSS just before the series.
 * 2. List and get latency for one user ("probe") with BENCH_PROBE_SKILLS (1,000) skills, while the database holds
 *    each of BENCH_TOTALS (10,000 and 100,000) skills in total over BENCH_USERS (1,000) users, plus BENCH_SHARED
 *    (20) skills an admin shared with everybody. Rows are inserted with SQL (`generate_series`): a user, a skill
 *    with its search document (the expression of SkillsService.updateSearch), a current version and one manifest
 *    entry pointing at one shared blob; then VACUUM ANALYZE. Skill names repeat across users (`skill-0000`, …)
 *    as real names do. One server per total, both up at once; requests alternate between them in blocks of 25 so
 *    that the machine's load drifts over both alike. Sequential keep-alive requests with an `api` token, after
 *    20 warm-up requests, BENCH_REQUESTS (200) per server or BENCH_SECONDS (20) s, whichever ends first:
 *      - GET /api/v1/skills?limit=20 (first page), and page 26 through its cursor (keyset pagination),
 *      - GET /api/v1/skills?q=… for a word in 2 % of the skills (one page of hits) and a word in every skill
 *        (1,000 ranked hits for the probe user, 100,000 in the database),
 *      - GET /api/v1/skills/{name}, cycling over the probe user's names (which other users have too).
 *
 * Environment: BENCH_DATABASE_URL, BENCH_BACKENDS (`pglite,postgres`; postgres needs the URL), BENCH_UPLOADS,
 * BENCH_ZIP_MB, BENCH_TOTALS, BENCH_USERS, BENCH_PROBE_SKILLS, BENCH_SHARED, BENCH_REQUESTS, BENCH_SECONDS,
 * BENCH_KEEP_DATABASES=1 (keep the PostgreSQL databases, to look at query plans).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { loadConfig } from '../src/config/index.js';
import { tables } from '../src/db/index.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import { sha256Hex } from '../src/shared/crypto.js';
import type { Principal } from '../src/shared/principal.js';
import { keyWithScopes } from '../src/accounts/api-tokens.js';
import { yazlZip, type YazlEntry } from '../test/helpers/zips.js';
import { percentile, request, runStatement } from './lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DATABASE_URL = process.env.BENCH_DATABASE_URL;
const BACKENDS = (process.env.BENCH_BACKENDS ?? (DATABASE_URL ? 'pglite,postgres' : 'pglite'))
  .split(',')
  .filter((b): b is Backend => b === 'pglite' || b === 'postgres');
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 5);
const ZIP_MB = Number(process.env.BENCH_ZIP_MB ?? 10);
/** Empty (`BENCH_TOTALS=`) skips the list/get part. */
const TOTALS = (process.env.BENCH_TOTALS ?? '10000,100000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const USERS = Number(process.env.BENCH_USERS ?? 1000);
const PROBE_SKILLS = Number(process.env.BENCH_PROBE_SKILLS ?? 1000);
const SHARED = Number(process.env.BENCH_SHARED ?? 20);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
/** Keep the PostgreSQL databases (to look at query plans); they are named on stderr. */
const KEEP = process.env.BENCH_KEEP_DATABASES === '1';
const WARMUP = 20;
const BLOCK = 25;
const MiB = 2 ** 20;
/** Words of the seeded descriptions and bodies: skill j mentions WORDS[j % 50]. */
const WORDS = [
  'pdf', 'spreadsheet', 'slides', 'invoice', 'contract', 'diagram', 'calendar', 'email', 'budget', 'payroll',
  'sql', 'kubernetes', 'terraform', 'docker', 'python', 'typescript', 'rust', 'golang', 'graphql', 'webhook',
  'audio', 'video', 'image', 'font', 'markdown', 'latex', 'resume', 'recipe', 'travel', 'weather',
  'genome', 'protein', 'chemistry', 'physics', 'statistics', 'forecast', 'inventory', 'shipping', 'customs', 'tax',
  'legal', 'patent', 'privacy', 'security', 'firewall', 'backup', 'migration', 'accessibility', 'translation', 'poetry',
]; // prettier-ignore

type Backend = 'pglite' | 'postgres';

// ---- server mode (child process) -------------------------------------------------------------------------------

type Command =
  | { cmd: 'user' }
  | { cmd: 'seed'; total: number; users: number; probeSkills: number; shared: number }
  | { cmd: 'stop' };

async function serverMode() {
  const dataDir = process.env.DATA_DIR!;
  const server = await startServer(
    loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      SECRET_KEY: 'b'.repeat(64),
      LOG_LEVEL: 'info',
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    }),
    { logDestination: pino.destination({ dest: path.join(dataDir, 'server.log'), sync: false }) },
  );
  process.on('message', (m: Command) => {
    handle(server, m).then(
      (result) => process.send!({ ok: true, result }),
      (err: Error) => process.send!({ ok: false, error: err.stack ?? String(err) }),
    );
  });
  process.send!({ ok: true, result: { port: server.port, kind: server.ctx.db.kind, node: process.version } });
}

async function handle(server: RunningServer, m: Command): Promise<unknown> {
  const { ctx } = server;
  if (m.cmd === 'stop') {
    await server.stop();
    setImmediate(() => process.exit(0));
    return null;
  }
  if (m.cmd === 'user') {
    const user = await ctx.accounts.createUser(
      { email: 'upload@example.com', username: 'upload', password: 'bench-password-long-enough' },
      { isAdmin: false, actorId: null, ip: null, publicSignup: false },
    );
    return { token: await apiToken(server, user.id) };
  }
  return { ...(await seed(server, m)), token: await apiToken(server, await probeId(server)) };
}

async function apiToken(server: RunningServer, userId: string): Promise<string> {
  const principal: Principal = { userId, isAdmin: false, via: 'session', scopes: ['api'] };
  return (await server.ctx.apiTokens.create(principal, keyWithScopes('bench', ['api']), null)).token;
}

async function probeId(server: RunningServer): Promise<string> {
  const r = await server.ctx.db.db.execute(sql`select id from users where username = 'probe'`);
  return (r as unknown as { rows: Array<{ id: string }> }).rows[0]!.id;
}

/**
 * Fills the database with SQL: `users` users (one of them "probe", the others "seed-NNNN"), the probe user's
 * `probeSkills` skills, `shared` skills of seed-0001 shared with everybody, and the rest spread evenly over the
 * other users, so that the database holds `total` skills (plus the shared ones).
 */
async function seed(
  server: RunningServer,
  m: Extract<Command, { cmd: 'seed' }>,
): Promise<{ seconds: number; skills: number }> {
  const { db } = server.ctx.db;
  const started = performance.now();
  const others = m.users - 1;
  const otherSkills = m.total - m.probeSkills;
  const skillMd = Buffer.from(
    '---\nname: seeded\ndescription: A seeded skill.\n---\n# Seeded\n\nEvery seeded version shares this file.\n',
  );
  const digest = sha256Hex(skillMd);
  const words = sql.raw(`array[${WORDS.map((w) => `'${w}'`).join(',')}]`);
  await db.transaction(async (tx) => {
    await tx.insert(tables.blobs).values({ sha256: digest, size: skillMd.length, data: skillMd });
    await tx.execute(sql`insert into users (email, username, password_hash)
      select 'seed-' || lpad(g::text, 4, '0') || '@bench.invalid', 'seed-' || lpad(g::text, 4, '0'), '!'
      from generate_series(1, ${others}) g`);
    await tx.execute(
      sql`insert into users (email, username, password_hash) values ('probe@bench.invalid', 'probe', '!')`,
    );
    await tx.execute(sql`create temp table seed_owner on commit drop as
      select id, (row_number() over (order by username) - 1)::int as idx from users where username like 'seed-%'`);
    // One row per skill: (owner, local index j, name, shared); description and body derive from j.
    await tx.execute(sql`create temp table seed_skill on commit drop as
      select gen_random_uuid() as id, gen_random_uuid() as version_id, owner_id, j, name, shared
      from (
        select (select id from users where username = 'probe') as owner_id, j,
               'skill-' || lpad(j::text, 4, '0') as name, false as shared
          from generate_series(0, ${m.probeSkills - 1}) j
        union all
        select o.id, g / ${others}, 'skill-' || lpad((g / ${others})::text, 4, '0'), false
          from generate_series(0, ${otherSkills - 1}) g join seed_owner o on o.idx = g % ${others}
        union all
        select o.id, j, 'shared-' || lpad(j::text, 4, '0'), true
          from generate_series(0, ${m.shared - 1}) j join seed_owner o on o.idx = 0
      ) s`);
    await tx.execute(sql`insert into skills (id, owner_id, name, description, shared, current_version_id, search)
      select id, owner_id, name, description, shared, version_id,
        setweight(to_tsvector('simple', replace(name, '-', ' ')), 'A')
          || setweight(to_tsvector('english', description), 'B')
          || setweight(to_tsvector('english', body), 'C')
      from (
        select *, 'Works with ' || (${words})[j % 50 + 1] || ' documents and writes reports (number ' || j || ').'
                    as description,
                  '# ' || name || E'\n\nOpen the ' || (${words})[j % 50 + 1] ||
                    ' file, check every section, and summarise what changed in a short report.' as body
        from seed_skill
      ) s`);
    await tx.execute(sql`insert into skill_versions (id, skill_id, number, frontmatter, warnings, file_count, size_bytes)
      select s.version_id, s.id, 1, jsonb_build_object('name', s.name, 'description', k.description), '[]'::jsonb,
             1, ${skillMd.length}
      from seed_skill s join skills k on k.id = s.id`);
    await tx.execute(sql`insert into version_files (version_id, path, sha256, size, executable)
      select version_id, 'SKILL.md', ${digest}, ${skillMd.length}, false from seed_skill`);
  });
  await db.execute(sql`vacuum analyze`);
  const r = await db.execute(sql`select count(*)::int as n from skills`);
  const skills = (r as unknown as { rows: Array<{ n: number }> }).rows[0]!.n;
  return { seconds: (performance.now() - started) / 1000, skills };
}

// ---- load generator (parent) -------------------------------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

interface Child {
  port: number;
  kind: string;
  node: string;
  pid: number;
  call<T>(m: Command): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts this file in server mode on a fresh data dir (and a fresh PostgreSQL database for `postgres`). With
 * `restart`, the first server only creates and migrates the database and a second one is started on it, so that
 * memory figures are those of a server that opened an existing database, as after any restart.
 */
async function spawnServer(backend: Backend, label: string, restart = false): Promise<Child> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `skillport-bench-skills-${label}-`));
  let dbName: string | null = null;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    DATA_DIR: dataDir,
  };
  if (backend === 'postgres') {
    if (!DATABASE_URL) throw new Error('the postgres backend needs BENCH_DATABASE_URL');
    dbName = `skillport_bench_${process.pid}_${label.replace(/[^a-z0-9]/gi, '_')}`;
    await runStatement(DATABASE_URL, `create database ${dbName}`);
    const url = new URL(DATABASE_URL);
    url.pathname = `/${dbName}`;
    env.DATABASE_URL = url.toString();
  }
  const cleanup = async () => {
    rmSync(dataDir, { recursive: true, force: true });
    if (dbName && !KEEP) await runStatement(DATABASE_URL!, `drop database if exists ${dbName} with (force)`);
    if (dbName && KEEP) console.error(`  kept database ${dbName}`);
  };
  try {
    if (restart) await (await launch(env, dataDir)).stop();
    const child = await launch(env, dataDir);
    return {
      ...child,
      async stop() {
        await child.stop();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function launch(env: Record<string, string>, dataDir: string): Promise<Child> {
  const logFile = path.join(dataDir, 'stdio.log');
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    process.execPath,
    [...process.execArgv.filter((a) => a !== '--eval'), fileURLToPath(import.meta.url), '--server'],
    { cwd: ROOT, env, stdio: ['ignore', log, log, 'ipc'] },
  );
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const pending: Array<{ resolve(v: unknown): void; reject(e: Error): void }> = [];
  child.on('message', (m: { ok: boolean; result?: unknown; error?: string }) => {
    const p = pending.shift();
    if (m.ok) p?.resolve(m.result);
    else p?.reject(new Error(m.error));
  });
  child.on('exit', (code) => {
    for (const p of pending.splice(0))
      p.reject(new Error(`server exited (${code}); see ${logFile}: ${readFileSync(logFile, 'utf8')}`));
  });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => pending.push({ resolve: resolve as never, reject }));
  const hello = await next<{ port: number; kind: string; node: string }>();
  return {
    ...hello,
    pid: child.pid!,
    call<T>(m: Command) {
      const p = next<T>();
      child.send(m);
      return p;
    },
    async stop() {
      if (child.exitCode === null) {
        child.send({ cmd: 'stop' } satisfies Command);
        await exited;
      }
    },
  };
}

/** VmRSS / VmHWM of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Resets the peak (VmHWM) to the current RSS (Linux ≥ 4.0). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;

/** Pseudo-text (random words, random line lengths): compresses about as well as real prose. */
function text(bytes: number): string {
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = Array.from({ length: 4 + randomInt(12) }, () => WORDS[randomInt(WORDS.length)]!).join(' ');
    out.push(line);
    n += line.length + 1;
  }
  return out.join('\n');
}

/** A skill archive of about `targetMiB`: SKILL.md, a few text files, and random binaries filling the rest. */
async function bigSkillZip(name: string, targetMiB: number): Promise<Buffer> {
  const textEntries: YazlEntry[] = [
    {
      path: `${name}/SKILL.md`,
      data: `---\nname: ${name}\ndescription: Large benchmark skill with binary assets.\n---\n# ${name}\n\n${text(8 * 1024)}\n`,
    },
    ...Array.from({ length: 4 }, (_, i) => ({
      path: `${name}/references/ref-${i}.md`,
      data: text(128 * 1024),
    })),
    {
      path: `${name}/scripts/run.py`,
      data: `print("hello")\n# ${text(16 * 1024)}\n`.replace(/\n/g, '\n# '),
      mode: 0o100755,
    },
  ];
  const textZipBytes = (await yazlZip(textEntries)).length;
  const binaryBytes = Math.max(0, targetMiB * MiB - textZipBytes - 2048);
  const files = 8;
  const binaries: YazlEntry[] = Array.from({ length: files }, (_, i) => ({
    path: `${name}/assets/blob-${i}.bin`,
    data: randomBytes(Math.floor(binaryBytes / files)),
    compress: false,
  }));
  return yazlZip([...textEntries, ...binaries]);
}

interface UploadFigures {
  zipBytes: number;
  newMs: number[];
  dedupMs: number[];
  idleRss: number;
  newPeak: number;
  dedupPeak: number;
  dedupRss: number;
  node: string;
}

async function uploadBench(backend: Backend): Promise<UploadFigures> {
  // Archives are built before the server starts; they live in this process, not the server's.
  const fresh = await Promise.all(
    Array.from({ length: UPLOADS }, (_, i) => bigSkillZip(`upload-${i}`, ZIP_MB)),
  );
  const same = await bigSkillZip('upload-same', ZIP_MB);
  const warm = await yazlZip([
    { path: 'warm-up/SKILL.md', data: '---\nname: warm-up\ndescription: Warm-up.\n---\n# Warm up\n' },
  ]);
  const server = await spawnServer(backend, `upload-${backend}`, true);
  try {
    const { token } = await server.call<{ token: string }>({ cmd: 'user' });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/zip' };
    const post = async (urlPath: string, body: Buffer) => {
      const t0 = performance.now();
      const r = await request(agent, server.port, 'POST', urlPath, headers, body);
      const elapsed = performance.now() - t0;
      if (r.status !== 201) throw new Error(`upload ${urlPath}: ${r.status} ${r.body.slice(0, 500)}`);
      return elapsed;
    };
    await post('/api/v1/skills', warm); // the upload path once, small: code loaded, JIT warm
    await new Promise((r) => setTimeout(r, 500));
    const idleRss = memory(server.pid).rss;
    resetPeak(server.pid);
    const newMs: number[] = [];
    for (const zip of fresh) newMs.push(await post('/api/v1/skills', zip));
    const newPeak = memory(server.pid).peak;
    // Identical content: version 1 stores the blobs (untimed), versions 2… find every blob already stored.
    await post('/api/v1/skills', same);
    await new Promise((r) => setTimeout(r, 500));
    const dedupRss = memory(server.pid).rss;
    resetPeak(server.pid);
    const dedupMs: number[] = [];
    for (let i = 0; i < UPLOADS; i++) dedupMs.push(await post('/api/v1/skills/upload-same/versions', same));
    const dedupPeak = memory(server.pid).peak;
    return {
      zipBytes: fresh[0]!.length,
      newMs,
      dedupMs,
      idleRss,
      newPeak,
      dedupPeak,
      dedupRss,
      node: server.node,
    };
  } finally {
    await server.stop();
  }
}

interface Endpoint {
  name: string;
  /** The i-th request's path; `cursor` is the page-26 cursor of the server asked. */
  path: (i: number, cursor: string) => string;
  /** Checks one answer; throws when it is not what the seeded data implies. */
  check: (body: string) => void;
}

async function scaleBench(backend: Backend): Promise<{
  servers: Array<{ total: number; seedSeconds: number; skills: number }>;
  results: Map<string, number[][]>;
  endpoints: Endpoint[];
}> {
  const servers: Array<{ total: number; child: Child; token: string; seedSeconds: number; skills: number }> =
    [];
  try {
    for (const total of TOTALS) {
      const child = await spawnServer(backend, `${backend}-${total}`);
      servers.push({ total, child, token: '', seedSeconds: 0, skills: 0 });
      const seeded = await child.call<{ token: string; seconds: number; skills: number }>({
        cmd: 'seed',
        total,
        users: USERS,
        probeSkills: PROBE_SKILLS,
        shared: SHARED,
      });
      Object.assign(servers[servers.length - 1]!, {
        token: seeded.token,
        seedSeconds: seeded.seconds,
        skills: seeded.skills,
      });
      console.error(
        `  ${backend}: seeded ${seeded.skills} skills of ${USERS} users in ${seeded.seconds.toFixed(1)} s`,
      );
    }
    const get = (s: (typeof servers)[number], urlPath: string) =>
      request(agent, s.child.port, 'GET', urlPath, { authorization: `Bearer ${s.token}` });
    // The cursor of page 26 (skills 501…520 of the probe user's ~1,020), found by walking the pages.
    const cursors: string[] = [];
    for (const s of servers) {
      let cursor = '';
      for (let page = 1; page < 26; page++) {
        const r = await get(
          s,
          `/api/v1/skills?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        cursor = JSON.parse(r.body).next_cursor;
      }
      cursors.push(cursor);
    }
    const items = (n: number) => (body: string) => {
      const got = (JSON.parse(body) as { items: unknown[] }).items.length;
      if (got !== n) throw new Error(`expected ${n} items, got ${got}`);
    };
    const name = (i: number) => `skill-${String((i * 37) % PROBE_SKILLS).padStart(4, '0')}`;
    const endpoints: Endpoint[] = [
      { name: 'list, first page (limit 20)', path: () => '/api/v1/skills?limit=20', check: items(20) },
      {
        name: 'list, page 26 via cursor',
        path: (_, cursor) => `/api/v1/skills?limit=20&cursor=${encodeURIComponent(cursor)}`,
        check: items(20),
      },
      {
        name: `search q=${WORDS[7]} (2 % of skills)`,
        path: () => `/api/v1/skills?q=${WORDS[7]}&limit=20`,
        check: items(Math.min(20, Math.ceil(PROBE_SKILLS / 50))),
      },
      {
        name: 'search q=reports (every skill)',
        path: () => '/api/v1/skills?q=reports&limit=20',
        check: items(20),
      },
      {
        name: 'get /skills/{name}',
        path: (i) => `/api/v1/skills/${name(i)}`,
        check: (body) => {
          if (!(JSON.parse(body) as { name?: string }).name?.startsWith('skill-')) throw new Error(body);
        },
      },
    ];
    const results = new Map<string, number[][]>();
    for (const e of endpoints) {
      const samples = servers.map(() => [] as number[]);
      const urlFor = (k: number, i: number) => e.path(i, cursors[k]!);
      for (let k = 0; k < servers.length; k++) {
        for (let i = 0; i < WARMUP; i++) {
          const r = await get(servers[k]!, urlFor(k, i));
          if (r.status !== 200) throw new Error(`${e.name}: ${r.status} ${r.body}`);
          e.check(r.body);
        }
      }
      const stopAt = performance.now() + SECONDS * 1000 * servers.length;
      let i = 0;
      while (i < REQUESTS && performance.now() < stopAt) {
        for (let k = 0; k < servers.length; k++) {
          for (let b = 0; b < BLOCK && i + b < REQUESTS; b++) {
            const t0 = performance.now();
            const r = await get(servers[k]!, urlFor(k, i + b));
            samples[k]!.push(performance.now() - t0);
            if (r.status !== 200) throw new Error(`${e.name}: ${r.status} ${r.body}`);
          }
        }
        i += BLOCK;
      }
      results.set(e.name, samples);
    }
    return {
      servers: servers.map(({ total, seedSeconds, skills }) => ({ total, seedSeconds, skills })),
      results,
      endpoints,
    };
  } finally {
    for (const s of servers) await s.child.stop();
  }
}

async function main() {
  const load = os.loadavg().map((l) => l.toFixed(1));
  console.log(
    `Skillport skill library benchmark — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ` +
      `load average ${load.join(' / ')} at start`,
  );
  for (const backend of BACKENDS) {
    const u = await uploadBench(backend);
    console.log(
      `\n### ${backend === 'pglite' ? 'Embedded PGlite' : 'PostgreSQL'} (server on Node ${u.node})\n`,
    );
    const row = (label: string, xs: number[], peak: number, base: number) => {
      const mbps = (u.zipBytes / MiB / (percentile(xs, 50) / 1000)).toFixed(1);
      console.log(
        `| ${label} | ${xs.length} | ${ms(percentile(xs, 50))} | ${ms(Math.min(...xs))} / ${ms(Math.max(...xs))} | ` +
          `${mbps} MiB/s | ${mib(base)} | ${mib(peak)} | +${mib(peak - base)} |`,
      );
    };
    console.log(
      `Upload of a ${mib(u.zipBytes)} zip (raw application/zip body), one at a time; peak = VmHWM of the server ` +
        `process during the series:\n`,
    );
    console.log(
      '| series | uploads | p50 ms | min / max ms | throughput (p50) | RSS before | peak RSS | peak − before |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    row('new content (new skill, new blobs)', u.newMs, u.newPeak, u.idleRss);
    row('identical content (new version, blobs deduplicated)', u.dedupMs, u.dedupPeak, u.dedupRss);

    if (!TOTALS.length) continue;
    const s = await scaleBench(backend);
    const [a, b] = s.servers;
    console.log(
      `\nOne user with ${PROBE_SKILLS} skills (+ ${SHARED} shared); sequential keep-alive requests with an API token, ` +
        `${REQUESTS} per database (or ${SECONDS} s), interleaved in blocks of ${BLOCK}. Seeding: ` +
        s.servers.map((x) => `${x.skills} skills in ${x.seedSeconds.toFixed(1)} s`).join(', ') +
        '.\n',
    );
    const head = s.servers.map((x) => `${x.skills} skills: p50 / p99 ms`);
    console.log(`| request | ${head.join(' | ')} |${b ? ' p50 ratio | p99 ratio |' : ''}`);
    console.log(`|---|${head.map(() => '---|').join('')}${b ? '---|---|' : ''}`);
    for (const e of s.endpoints) {
      const samples = s.results.get(e.name)!;
      const cells = samples.map((x) => `${ms(percentile(x, 50))} / ${ms(percentile(x, 99))}`);
      const ratio =
        a && b
          ? ` ${(percentile(samples[1]!, 50) / percentile(samples[0]!, 50)).toFixed(2)} | ` +
            `${(percentile(samples[1]!, 99) / percentile(samples[0]!, 99)).toFixed(2)} |`
          : '';
      console.log(`| ${e.name} | ${cells.join(' | ')} |${ratio}`);
    }
  }
  console.log(
    `\nload average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} at the end`,
  );
}

if (process.argv.includes('--server')) {
  serverMode().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().then(
    () => {
      agent.destroy();
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
