import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { collectGarbage } from '../helpers/gc.js';
import { connectMcp } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The field's worst connector failure is leaked stdio processes (one report: 2,018 processes, 38.85 GB after 14
 * days). 200 crash/restart cycles of a sandboxed stdio upstream that starts a grandchild holding its stdout must
 * leave exactly one running tree, bounded memory, and nothing at all once Skillport stops.
 */
const CYCLES = 200;
const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(realpathSync(here), 'fixtures/stdio-server.mjs');
const REPO = realpathSync(path.resolve(here, '../..'));
const MODULES = realpathSync(path.join(REPO, 'node_modules'));
const MARKER = `marker-${randomBytes(4).toString('hex')}`;

const markerProcesses = () =>
  execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(MARKER));

let srv: TestServer;
let stateDir: string;
beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'skillport-upstreams-'));
  srv = await startTestServer({ UPSTREAM_STATE_DIR: stateDir, COMMANDS_ENABLED: 'false' });
});
afterAll(async () => {
  await srv?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

it(`${CYCLES} crash/restart cycles with a grandchild leave no stray process and bounded memory`, async () => {
  const admin = (await registerUser(new Api(srv.baseUrl), 'leakadmin')).api;
  const key = (await admin.post('/api/v1/api-keys', { name: 'mcp', can_use_mcp: true })).body.token;
  const created = await admin.post('/api/v1/mcp-servers', {
    transport: 'stdio',
    name: 'leaky',
    command: 'node',
    args: [FIXTURE, MARKER],
    read_paths: [REPO, MODULES],
    env: { GRANDCHILD: '1' },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id;
  const isRunning = async () => (await admin.get(`/api/v1/mcp-servers/${id}`)).body.status === 'running';
  await until('first start', isRunning);
  const client = await connectMcp(srv.baseUrl, key);
  await until('tools listed', async () =>
    (await client.listTools()).tools.some((t) => t.name === 'leaky__crash'),
  );
  const perInstance = markerProcesses().length; // bwrap (outer, inner), node, the grandchild's sh
  expect(perInstance).toBeGreaterThanOrEqual(3);
  let baseline = 0;
  for (let i = 0; i < CYCLES; i++) {
    if (i === 20) {
      collectGarbage();
      baseline = process.memoryUsage().rss; // after warm-up
    }
    const crashed = await client.callTool({ name: 'leaky__crash', arguments: {} });
    expect(crashed.isError).toBe(true);
    expect((await admin.post(`/api/v1/mcp-servers/${id}/restart`)).status).toBe(200);
    await until(`cycle ${i} running`, isRunning);
  }
  await until('one tree left', async () => markerProcesses().length === perInstance);
  collectGarbage();
  const grown = (process.memoryUsage().rss - baseline) / 1024 / 1024;
  console.log(`rss growth over ${CYCLES - 20} crash/restart cycles: ${grown.toFixed(1)} MiB`);
  expect(grown).toBeLessThan(64);
  const server = (await admin.get(`/api/v1/mcp-servers/${id}`)).body;
  expect(server.status).toBe('running');
  await client.close();
  await srv.close();
  srv = undefined as never;
  expect(markerProcesses()).toEqual([]);
}, 600_000);
