import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { ensureBuilt } from '../helpers/build.js';
import { killServers, runCli, serveCli, type Served } from '../helpers/cli.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';

/**
 * `skillport serve --workers 2` as an operator runs it: the real CLI, PostgreSQL, Redis. Requests on fresh
 * connections are spread over both workers by the cluster primary (in turn), so each check below uses several
 * connections and asserts from the access log that both workers answered. (The server part runs with the
 * PostgreSQL pass of the suite.)
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const FRESH = 6;
let cwd: string;
let db: TestDatabase | undefined;
let server: Served | undefined;

const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOME: cwd,
  LOG_LEVEL: 'info',
  SECRET_KEY: 'workers-test-secret-key-0123456789abcdef',
  COMMANDS_ENABLED: 'false',
  AUTH_RATE_LIMIT_PER_IP: '10000',
});

beforeAll(async () => {
  ensureBuilt();
  cwd = mkdtempSync(path.join(tmpdir(), 'skillport-workers-'));
  if (TEST_DB_KIND !== 'postgres') return;
  db = await createTestDatabase();
  server = await serveCli(['--port', '0', '--workers', '2'], {
    cwd,
    env: {
      ...baseEnv(),
      DATABASE_URL: db.url!,
      REDIS_URL,
      REDIS_PREFIX: `skillport-workers-${randomBytes(4).toString('hex')}:`,
    },
  });
}, 120_000);

afterAll(async () => {
  await killServers();
  await db?.dispose();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

/** One request on a connection of its own (so that the cluster hands it to the next worker). */
function fresh(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent: false, headers: { connection: 'close', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The workers (0, 1) that wrote an access line for `path` since `from` in the server's output. */
function workersServing(from: number, pathPrefix: string): Set<number> {
  const workers = new Set<number>();
  for (const line of server!.output().slice(from).split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line);
    if (entry.msg === 'request' && String(entry.path).startsWith(pathPrefix)) workers.add(entry.worker);
  }
  return workers;
}

describe('serve --workers refuses what it cannot keep consistent', () => {
  it('refuses the embedded database, naming the fix', async () => {
    const result = await runCli(['serve', '--port', '0', '--workers', '2'], {
      cwd,
      env: { ...baseEnv(), DATA_DIR: path.join(cwd, 'embedded'), REDIS_URL },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('needs PostgreSQL (DATABASE_URL)');
  });

  it('refuses PostgreSQL without Redis', async () => {
    const result = await runCli(['serve', '--port', '0', '--workers', '2'], {
      cwd,
      env: { ...baseEnv(), DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('needs REDIS_URL');
  });
});

describe.runIf(TEST_DB_KIND === 'postgres')('serve --workers 2 on PostgreSQL', () => {
  it('runs two worker processes under the primary, both answering on one port', async () => {
    const children = execFileSync('pgrep', ['-P', String(server!.child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(children).toHaveLength(2);
    const from = server!.output().length;
    for (let i = 0; i < FRESH; i++) expect((await fresh('GET', `${server!.url}/health`)).status).toBe(200);
    expect(workersServing(from, '/health')).toEqual(new Set([0, 1]));
  });

  it('a token revoked through one worker is refused by every worker at once', async () => {
    const user = await registerUser(new Api(server!.url), 'workerrevoke');
    const token = await createApiToken(user.api, ['api']);
    const auth = { authorization: `Bearer ${token}` };
    const from = server!.output().length;
    for (let i = 0; i < FRESH; i++) {
      expect((await fresh('GET', `${server!.url}/api/v1/users/me`, auth)).status).toBe(200);
    }
    expect(workersServing(from, '/api/v1/users/me')).toEqual(new Set([0, 1])); // both cached it
    const list = await user.api.get('/api/v1/tokens');
    expect((await user.api.delete(`/api/v1/tokens/${list.body.items[0].id}`)).status).toBe(204);
    for (let i = 0; i < FRESH; i++) {
      expect((await fresh('GET', `${server!.url}/api/v1/users/me`, auth)).status).toBe(401);
    }
  });

  it('a legacy SSE POST /messages landing on the other worker reaches the stream', async () => {
    const user = await registerUser(new Api(server!.url), 'workersse');
    const token = await createApiToken(user.api, ['mcp']);
    const stream = await openSse(`${server!.url}/sse`, token);
    try {
      const endpoint = new URL(await stream.event('endpoint'), server!.url).toString();
      const post = (message: object, bearer = token) =>
        fresh(
          'POST',
          endpoint,
          { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          JSON.stringify(message),
        );
      const from = server!.output().length;
      const init = {
        protocolVersion: '2024-11-05',
        capabilities: {},
        clientInfo: { name: 'workers-test', version: '1' },
      };
      expect((await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: init })).status).toBe(202);
      expect(JSON.parse(await stream.event('message')).id).toBe(1);
      expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
      for (let id = 2; id < 2 + FRESH; id++) {
        expect((await post({ jsonrpc: '2.0', id, method: 'tools/list' })).status).toBe(202);
        const answer = JSON.parse(await stream.event('message'));
        expect(answer.id).toBe(id);
        expect(answer.result.tools.map((t: { name: string }) => t.name)).toContain('load_skill');
      }
      expect(workersServing(from, '/messages')).toEqual(new Set([0, 1]));

      // Whatever worker it lands on: another user's message to this session is answered like an unknown one,
      // and a malformed one is refused.
      const other = await createApiToken((await registerUser(new Api(server!.url), 'workersse2')).api, [
        'mcp',
      ]);
      for (let i = 0; i < 2; i++) {
        expect((await post({ jsonrpc: '2.0', id: 99, method: 'tools/list' }, other)).status).toBe(404);
        expect((await post({ not: 'json-rpc' })).status).toBe(400);
      }
      const unknown = endpoint.replace(/sessionId=[^&]+/, 'sessionId=00000000-0000-4000-8000-000000000000');
      const missing = await fresh(
        'POST',
        unknown,
        { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        '{"jsonrpc":"2.0","id":5,"method":"tools/list"}',
      );
      expect(missing.status).toBe(404);
    } finally {
      stream.close();
    }
  });

  it('stops with its workers on SIGTERM, exiting 0', async () => {
    const another = await serveCli(['--port', '0', '--workers', '2'], {
      cwd,
      env: {
        ...baseEnv(),
        DATABASE_URL: db!.url!,
        REDIS_URL,
        REDIS_PREFIX: `skillport-workers-${randomBytes(4).toString('hex')}:`,
      },
    });
    const workers = execFileSync('pgrep', ['-P', String(another.child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    expect(workers).toHaveLength(2);
    expect(await another.stop()).toBe(0);
    expect(workers.filter((pid) => isAlive(pid))).toEqual([]);
  }, 60_000);

  it('stops its workers when it is killed', async () => {
    const workers = execFileSync('pgrep', ['-P', String(server!.child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    server!.child.kill('SIGKILL');
    await server!.exited;
    const alive = () => workers.filter((pid) => isAlive(pid));
    const deadline = Date.now() + 15_000;
    while (alive().length > 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 20_000);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A raw legacy SSE stream: `event(name)` resolves with the data of the next event of that name. */
async function openSse(url: string, token: string) {
  const queue: Array<{ event: string; data: string }> = [];
  const waiters: Array<() => void> = [];
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
  });
  expect(res.statusCode).toBe(200);
  let buffer = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? '';
      queue.push({ event, data });
      waiters.splice(0).forEach((w) => w());
    }
  });
  return {
    async event(name: string): Promise<string> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const at = queue.findIndex((e) => e.event === name);
        if (at >= 0) return queue.splice(at, 1)[0]!.data;
        if (Date.now() > deadline) throw new Error(`no "${name}" event in time`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 1_000);
        });
      }
    },
    close: () => res.destroy(),
  };
}
