import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';
import { freePort } from '../helpers/pg-cluster.js';

/**
 * Two real Skillport processes of one deployment (PostgreSQL + Redis): a stdio upstream runs exactly once, calls
 * through either instance reach it, and when its owner is killed (SIGKILL: no clean hand-over) the other instance
 * takes the lease and runs it; the time until calls succeed again is measured.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LEASE_SECONDS = 3;
const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(realpathSync(here), 'fixtures/stdio-server.mjs');
const REPO = realpathSync(ROOT);
const MODULES = realpathSync(path.join(ROOT, 'node_modules'));
const MARKER = `marker-${randomBytes(4).toString('hex')}`;
const work = mkdtempSync(path.join(tmpdir(), 'skillport-upstream-instances-'));
chmodSync(work, 0o711); // the sandbox uid passes through to its state dir below it

interface Instance {
  url: string;
  child: ChildProcess;
}
let db: TestDatabase;
const instances: Instance[] = [];

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
  const url = `http://127.0.0.1:${port}`;
  await until(
    `instance ${port} ready (${out})`,
    () =>
      fetch(`${url}/ready`).then(
        (r) => r.ok,
        () => false,
      ),
    60_000,
  );
  const instance = { url, child };
  instances.push(instance);
  return instance;
}

/** The fixture's node processes (not bwrap's), with their ancestry. */
function fixtureProcesses(): Array<{ pid: number; ancestors: number[] }> {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m);
  const parent = new Map(rows.map((m) => [Number(m[1]), Number(m[2])]));
  return rows
    .filter((m) => m[3]!.startsWith('node ') && m[3]!.includes(MARKER))
    .map((m) => {
      const ancestors: number[] = [];
      for (let p = parent.get(Number(m[1])); p && p > 1; p = parent.get(p)) ancestors.push(p);
      return { pid: Number(m[1]), ancestors };
    });
}

beforeAll(async () => {
  if (TEST_DB_KIND !== 'postgres') return;
  ensureBuilt();
  db = await createTestDatabase();
  const env = {
    DATABASE_URL: db.url!,
    REDIS_URL,
    REDIS_PREFIX: `skillport-test-${randomBytes(4).toString('hex')}:`,
    SECRET_KEY: randomBytes(32).toString('hex'),
    COMMANDS_ENABLED: 'false',
    UPSTREAM_LEASE_SECONDS: String(LEASE_SECONDS),
    UPSTREAM_STATE_DIR: path.join(work, 'state'),
  };
  await startInstance(env);
  await startInstance(env);
}, 120_000);

afterAll(async () => {
  for (const i of instances) i.child.kill('SIGKILL');
  await db?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(TEST_DB_KIND !== 'postgres')('a stdio upstream across two instances', () => {
  it('runs once, answers through both instances, and moves when its owner is killed', async () => {
    const [a, b] = instances as [Instance, Instance];
    const admin = (await registerUser(new Api(a.url), 'instadmin')).api;
    const key = (await admin.post('/api/v1/api-keys', { name: 'mcp', can_use_mcp: true })).body.token;
    const created = await admin.post('/api/v1/mcp-servers', {
      transport: 'stdio',
      name: 'solo',
      command: 'node',
      args: [FIXTURE, MARKER],
      read_paths: [REPO, MODULES],
    });
    expect(created.status, created.text).toBe(201);
    const clients = [await connectMcp(a.url, key), await connectMcp(b.url, key)];
    const echo = async (i: number, text: string) =>
      resultText(await clients[i]!.callTool({ name: 'solo__echo', arguments: { text } }));
    let last: unknown;
    await until('tool on both', async () => {
      const s = (await admin.get('/api/v1/mcp-servers')).body.items[0];
      last = [await echo(0, 'x').catch(String), await echo(1, 'y').catch(String), s.status, s.last_error];
      return (last as string[])[0] === 'x' && (last as string[])[1] === 'y';
    }).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`, { cause: err });
    });
    // The upstream's tools/list_changed reaches users on both instances (through the owner and Redis).
    await clients[1]!.callTool({ name: 'solo__add_tool', arguments: { name: 'late' } });
    for (const client of clients)
      await until('the new tool on both instances', async () =>
        (await client.listTools()).tools.some((t) => t.name === 'solo__late'),
      );
    // Exactly one process, under one of the two instances.
    const procs = fixtureProcesses();
    expect(procs).toHaveLength(1);
    const owner = instances.find((i) => procs[0]!.ancestors.includes(i.child.pid!))!;
    expect(owner).toBeDefined();
    const survivor = owner === a ? 1 : 0;
    await clients[1 - survivor]!.close().catch(() => undefined);

    const killedAt = Date.now();
    owner.child.kill('SIGKILL');
    await until(
      'calls through the survivor',
      async () => (await echo(survivor, 'back').catch(() => '')) === 'back',
      60_000,
    );
    const failoverMs = Date.now() - killedAt;
    console.log(
      `stdio upstream failover after SIGKILL of its owner: ${failoverMs} ms (lease ${LEASE_SECONDS} s)`,
    );
    // Bound: the lease must expire (LEASE_SECONDS), the next tick notices (a third of it), then a start.
    expect(failoverMs).toBeLessThan(LEASE_SECONDS * 1000 * 2 + 5_000);
    const after = fixtureProcesses();
    expect(after).toHaveLength(1);
    expect(after[0]!.ancestors).toContain(instances[survivor]!.child.pid);
    await clients[survivor]!.close();
  }, 120_000);
});
