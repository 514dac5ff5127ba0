import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { killServers, runCli, serveCli, type CliResult } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';

/**
 * What an operator meets when the set-up is wrong: one line naming the setting (credentials redacted), a
 * non-zero exit, no stack trace, and no seconds spent opening a database first.
 */
let root: string;
let cwd: string;
const env = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '',
  HOME: cwd,
  LOG_LEVEL: 'warn',
  ...extra,
});
const run = (args: string[], extra: Record<string, string> = {}, prefix?: string[]) =>
  runCli(args, { cwd, env: env(extra), prefix });

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(path.join(tmpdir(), 'skillport-operr-'));
  chmodSync(root, 0o755);
  cwd = path.join(root, 'cwd');
  mkdirSync(cwd, { mode: 0o755 });
}, 180_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A port nobody listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = await listening();
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}
function listening(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

function expectOneClearLine(res: CliResult, pattern: RegExp): void {
  expect(res.code).not.toBe(0);
  expect(res.stderr).toMatch(pattern);
  expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(res.stderr).not.toMatch(/ioredis|Unhandled/);
  expect(res.stdout).not.toMatch(/listening/);
}

describe('unreachable services', () => {
  it('names DATABASE_URL, without its password, and exits 1', async () => {
    const url = `postgres://skillport:hunter2secret@127.0.0.1:${await closedPort()}/skillport`;
    const secret = { DATABASE_URL: url, SECRET_KEY: 'operator-test-secret-key-0123456789' };
    for (const command of [['migrate'], ['serve', '--port', '0']]) {
      const res = await run([...command, '--data-dir', path.join(root, 'pgdata')], secret);
      expectOneClearLine(
        res,
        /^skillport: Cannot connect to PostgreSQL at DATABASE_URL \(postgres:\/\/skillport:\*\*\*@127\.0\.0\.1:\d+\/skillport\): .*ECONNREFUSED/,
      );
      expect(res.code).toBe(1);
      expect(res.stderr + res.stdout).not.toContain('hunter2secret');
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('names REDIS_URL, without its password, and exits 1 before opening the database', async () => {
    const dataDir = path.join(root, 'redisdata');
    const res = await run(['serve', '--port', '0', '--data-dir', dataDir], {
      REDIS_URL: `redis://:hunter2secret@127.0.0.1:${await closedPort()}`,
    });
    expectOneClearLine(
      res,
      /^skillport: Cannot connect to Redis at REDIS_URL \(redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\): .*ECONNREFUSED/,
    );
    expect(res.code).toBe(1);
    expect(res.stderr + res.stdout).not.toContain('hunter2secret');
    expect(existsSync(path.join(dataDir, 'db'))).toBe(false);
  });
});

describe('the port', () => {
  it('in use is reported at once, before the database is opened', async () => {
    const taken = await listening();
    const { port } = taken.address() as { port: number };
    const dataDir = path.join(root, 'portdata');
    try {
      const res = await run(['serve', '--port', String(port), '--data-dir', dataDir]);
      expectOneClearLine(
        res,
        new RegExp(`^skillport: Port ${port} on 127\\.0\\.0\\.1 is already in use \\(PORT / --port\\)`),
      );
      expect(res.code).toBe(1);
      expect(existsSync(path.join(dataDir, 'db'))).toBe(false); // the embedded database was never opened
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});

describe('the start', () => {
  it('binds the port before opening the database, answering 503 starting meanwhile', async () => {
    const port = await closedPort();
    const server = serveCli(['--port', String(port), '--data-dir', path.join(root, 'startdata')], {
      cwd,
      env: env(),
    });
    void server.catch(() => undefined); // awaited below; a failure before that must not go unhandled
    try {
      const first = await until(
        'the first answer',
        () => fetch(`http://127.0.0.1:${port}/api/v1/info`),
        60_000,
      );
      // The embedded database takes seconds to create: the first answer comes while it opens.
      expect(first.status).toBe(503);
      expect((await first.json()).error.code).toBe('starting');
      expect(first.headers.get('retry-after')).toBe('1');
      const running = await server;
      expect((await fetch(`${running.url}/api/v1/info`)).status).toBe(200);
      expect(await running.stop()).toBe(0);
    } finally {
      await killServers();
    }
  }, 120_000);
});

describe('the data dir', () => {
  it('that is a file is named as such', async () => {
    const file = path.join(root, 'a-file');
    writeFileSync(file, 'not a folder');
    for (const args of [
      ['migrate', '--data-dir', file],
      ['serve', '--port', '0', '--data-dir', path.join(file, 'sub')],
    ]) {
      const res = await run(args);
      expectOneClearLine(
        res,
        /^Invalid configuration:\n {2}DATA_DIR: .*a-file.* is not a folder \(a file is in the way/,
      );
      expect(res.stderr).not.toMatch(/EEXIST|ENOTDIR/);
      expect(res.code).toBe(2);
    }
  });

  it('that this user may not use says so, with the uid', async () => {
    const locked = path.join(root, 'locked');
    mkdirSync(locked, { mode: 0o700 }); // owned by the test's user; the CLI runs as nobody
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const res = await run(['migrate', '--data-dir', path.join(locked, 'data')], {}, nobody);
    expectOneClearLine(
      res,
      /^Invalid configuration:\n {2}DATA_DIR: .*locked\/data is not readable and writable by this user \(this process runs as uid 65534\): permission denied/,
    );
    expect(res.stderr).not.toMatch(/EACCES/);
    expect(res.code).toBe(2);
  });
});

describe('log lines', () => {
  it('"command sandbox ready" carries one level key', async () => {
    const t = await startTestServer({ COMMANDS_ENABLED: 'true' });
    try {
      const line = t.logs.find((l) => l.includes('command sandbox ready'));
      expect(line).toBeDefined();
      expect(line!.match(/"level":/g)).toHaveLength(1);
      expect(JSON.parse(line!)).toMatchObject({ level: 30, security_level: t.server.ctx.commandLevel });
    } finally {
      await t.close();
    }
  });
});
