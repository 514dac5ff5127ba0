import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { TEST_DB_KIND } from '../helpers/db.js';
import { connectMcp, resultText, type McpTransportKind } from '../helpers/mcp.js';
import { freePort, startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { skillZip } from '../helpers/zips.js';
import { until } from '../helpers/until.js';

/**
 * Three real `skillport serve` processes on one PostgreSQL (a throwaway cluster, so it can be restarted) and the
 * machine's Redis, behind haproxy running the shipped deploy/haproxy/haproxy.cfg. Mixed load — REST reads and
 * uploads, MCP in both eras, legacy SSE (sticky by client address) — while one instance is killed with SIGKILL and,
 * later, PostgreSQL is restarted. Reports failed requests by phase, lost acknowledged writes and recovery times.
 * Runs once (in the PostgreSQL pass of the suite); bounded to about a minute.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LOAD_MS = 21_000;
const KILL_AT_MS = 6_000;
const PG_RESTART_AT_MS = 12_000;

interface Instance {
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

let pgCluster: PgCluster;
let haproxy: ChildProcess;
let lbUrl: string;
const instances: Instance[] = [];
const work = mkdtempSync(path.join(tmpdir(), 'skillport-lb-'));

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin/skillport.js'),
      'serve',
      '--port',
      String(port),
      '--data-dir',
      path.join(work, `d${port}`),
    ],
    {
      env: { PATH: process.env.PATH ?? '', HOME: work, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { port, child, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`instance on ${port} did not become ready:\n${out}`);
}

/** The shipped haproxy.cfg with its Docker server-template lines replaced by this run's instances. */
function haproxyConfig(lbPort: number): string {
  const shipped = readFileSync(path.join(ROOT, 'deploy/haproxy/haproxy.cfg'), 'utf8');
  const servers = instances.map((i, n) => `  server app${n + 1} 127.0.0.1:${i.port}`).join('\n');
  const cfg = shipped
    .replace(/^resolvers docker\n(?: {2}.*\n)+/m, '')
    .replace(/^ {2}server-template .*$/gm, servers)
    .replace(/^ {2}bind :8080$/m, `  bind 127.0.0.1:${lbPort}`)
    .replace(/^ {2}log stdout.*$/m, '');
  expect(cfg).toContain(`server app3 127.0.0.1:${instances[2]!.port}`);
  expect(cfg).not.toMatch(/^ +server-template/m);
  return cfg;
}

beforeAll(async () => {
  if (TEST_DB_KIND !== 'postgres') return;
  ensureBuilt();
  pgCluster = await startPgCluster();
  const env = {
    DATABASE_URL: pgCluster.url,
    REDIS_URL,
    REDIS_PREFIX: `skillport-lb-${randomBytes(4).toString('hex')}:`,
    SECRET_KEY: randomBytes(32).toString('hex'),
    TRUST_PROXY: 'true',
    COMMANDS_ENABLED: 'false',
    AUTH_RATE_LIMIT_PER_IP: '10000',
    DATABASE_POOL_SIZE: '5',
  };
  // One after another: the first applies the migrations.
  for (let i = 0; i < 3; i++) instances.push(await startInstance(env));
  const lbPort = await freePort();
  const cfgFile = path.join(work, 'haproxy.cfg');
  writeFileSync(cfgFile, haproxyConfig(lbPort));
  haproxy = spawn('haproxy', ['-db', '-f', cfgFile], { stdio: 'ignore' });
  lbUrl = `http://127.0.0.1:${lbPort}`;
  await until('haproxy', async () => (await fetch(`${lbUrl}/ready`)).ok, 30_000);
}, 180_000);

afterAll(async () => {
  haproxy?.kill('SIGKILL');
  for (const i of instances) {
    i.child.kill('SIGTERM');
    await i.exited;
  }
  pgCluster?.destroy();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

interface Outcome {
  kind: string;
  started: number;
  ended: number;
  ok: boolean;
  detail?: string;
}

describe.skipIf(TEST_DB_KIND !== 'postgres')('three instances behind haproxy', () => {
  it('loses no acknowledged write when an instance dies and PostgreSQL restarts under load', async () => {
    const lb = new Api(lbUrl);
    const writers = await Promise.all([0, 1, 2, 3].map((i) => registerUser(lb, `lbwriter${i}`)));
    const mcpUser = await registerUser(lb, 'lbmcp');
    expect(
      (await mcpUser.api.post('/api/v1/skills', await skillZip('lb-read', 'Read through the LB.'))).status,
    ).toBe(201);
    const token = await createApiToken(mcpUser.api, ['mcp']);

    const t0 = Date.now();
    const outcomes: Outcome[] = [];
    const acknowledged: { api: Api; name: string; version: number; marker: string }[] = [];
    let inFlight = 0;
    let inFlightAtKill = -1;
    const timeline = { killedAt: 0, pgDownAt: 0, pgUpAt: 0 };
    const running = () => Date.now() - t0 < LOAD_MS;
    async function track(kind: string, op: () => Promise<boolean | string>) {
      const started = Date.now();
      inFlight += 1;
      try {
        const r = await op();
        outcomes.push({
          kind,
          started,
          ended: Date.now(),
          ok: r === true,
          detail: r === true ? undefined : String(r),
        });
      } catch (err) {
        outcomes.push({ kind, started, ended: Date.now(), ok: false, detail: (err as Error).message });
      } finally {
        inFlight -= 1;
      }
    }

    const writer = async (w: (typeof writers)[number], i: number) => {
      const name = `lb-skill-${i}`;
      let uploadTo = '/api/v1/skills'; // the first upload creates the skill, the next ones add versions
      while (running()) {
        const marker = randomBytes(8).toString('hex');
        await track('upload', async () => {
          const res = await w.api.post(
            uploadTo,
            await skillZip(name, `Version ${marker}.`, [], `# ${marker}\n`),
          );
          if (res.status !== 201) return `${res.status} ${res.text.slice(0, 120)}`;
          uploadTo = `/api/v1/skills/${name}/versions`;
          acknowledged.push({ api: w.api, name, version: res.body.version.number, marker });
          return true;
        });
        await track('list', async () => {
          const res = await w.api.get('/api/v1/skills');
          return res.status === 200 || `${res.status}`;
        });
      }
    };
    const mcpLoop = async (kind: McpTransportKind) => {
      let client: Client | undefined;
      while (running()) {
        await track(`mcp-${kind}`, async () => {
          client ??= await connectMcp(lbUrl, token, kind);
          try {
            const r = await client.callTool({ name: 'load_skill', arguments: { skill_name: 'lb-read' } });
            return resultText(r).includes('Instructions for lb-read') || 'wrong content';
          } catch (err) {
            const dead = client;
            client = undefined; // reconnect: a legacy SSE stream dies with its instance
            await dead.close().catch(() => {});
            throw err;
          }
        });
      }
      await client?.close();
    };
    const faults = async () => {
      await new Promise((r) => setTimeout(r, KILL_AT_MS));
      inFlightAtKill = inFlight;
      timeline.killedAt = Date.now();
      instances[1]!.child.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, PG_RESTART_AT_MS - KILL_AT_MS));
      timeline.pgDownAt = Date.now();
      pgCluster.stop('immediate');
      await new Promise((r) => setTimeout(r, 1_000));
      pgCluster.start();
      timeline.pgUpAt = Date.now();
    };

    await Promise.all([
      ...writers.map(writer),
      mcpLoop('modern'),
      mcpLoop('legacy-http'),
      mcpLoop('sse'),
      faults(),
    ]);

    // Every acknowledged version is there, with the content that was acknowledged.
    let lost = 0;
    for (const a of acknowledged) {
      const res = await a.api.get(`/api/v1/skills/${a.name}/versions/${a.version}/files/SKILL.md`);
      if (res.status !== 200 || !res.text.includes(a.marker)) {
        lost += 1;
        console.log(`lost: ${a.name} v${a.version}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    }

    const killWindowEnd = timeline.killedAt + 3_000;
    const failed = outcomes.filter((o) => !o.ok);
    const inKillWindow = failed.filter((o) => o.ended >= timeline.killedAt && o.started <= killWindowEnd);
    const inPgWindow = failed.filter(
      (o) => o.ended >= timeline.pgDownAt && o.started <= timeline.pgUpAt + 10_000,
    );
    const elsewhere = failed.filter((o) => !inKillWindow.includes(o) && !inPgWindow.includes(o));
    const firstOkAfter = (t: number, kind?: string) =>
      outcomes.find((o) => o.ok && o.started >= t && (!kind || o.kind === kind))?.ended ?? Infinity;
    const figures = {
      requests: outcomes.length,
      acknowledged_uploads: acknowledged.length,
      lost_acknowledged_writes: lost,
      in_flight_at_kill: inFlightAtKill,
      failed_around_kill: inKillWindow.length,
      failed_during_pg_restart: inPgWindow.length,
      failed_otherwise: elsewhere.length,
      recovery_after_kill_ms: firstOkAfter(timeline.killedAt) - timeline.killedAt,
      upload_recovery_after_pg_up_ms: firstOkAfter(timeline.pgUpAt, 'upload') - timeline.pgUpAt,
      by_kind: Object.fromEntries(
        [...new Set(outcomes.map((o) => o.kind))].map((k) => [
          k,
          `${outcomes.filter((o) => o.kind === k && o.ok).length} ok / ${outcomes.filter((o) => o.kind === k && !o.ok).length} failed`,
        ]),
      ),
    };
    console.log(`load-balancer fault test: ${JSON.stringify(figures)}`);
    if (elsewhere.length) console.log(elsewhere.slice(0, 5));

    expect(acknowledged.length).toBeGreaterThan(20);
    // The instances that were not killed survived the database restart.
    expect([instances[0]!.child.exitCode, instances[2]!.child.exitCode]).toEqual([null, null]);
    expect(lost).toBe(0);
    expect(elsewhere).toEqual([]);
    expect(inKillWindow.length).toBeLessThanOrEqual(inFlightAtKill);
    expect(figures.recovery_after_kill_ms).toBeLessThan(3_000);
    expect(figures.upload_recovery_after_pg_up_ms).toBeLessThan(10_000);
    // Writes kept succeeding after both faults.
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(outcomes.some((o) => o.kind === 'upload' && o.ok && o.started > timeline.pgUpAt)).toBe(true);
    expect(outcomes.some((o) => o.kind === 'mcp-sse' && o.ok && o.started > timeline.pgUpAt)).toBe(true);
  }, 150_000);
});
