import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { runCli, serveCli } from '../helpers/cli.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';

const SECRET_KEY = 'cli-test-secret-key-0123456789abcdef';

let cwd: string;
const cleanup: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  cleanup.push(dir);
  return dir;
};

/** A clean environment: nothing from the developer's shell (DATABASE_URL, SECRET_KEY…) leaks in. */
const baseEnv = () => ({ PATH: process.env.PATH ?? '', HOME: cwd, LOG_LEVEL: 'warn' });

const run = (args: string[], env: Record<string, string> = {}, input?: string) =>
  runCli(args, { cwd, env: { ...baseEnv(), ...env }, input });
const serve = (args: string[], env: Record<string, string> = {}) =>
  serveCli(['--port', '0', ...args], { cwd, env: { ...baseEnv(), ...env } });

let testDb: TestDatabase | undefined;
/** Where the CLI keeps its data in this run: a PostgreSQL database of its own, or the embedded one. */
let dbArgs: { args: string[]; env: Record<string, string> };

beforeAll(async () => {
  ensureBuilt();
  cwd = tempDir('skillport-cli-cwd-');
  if (TEST_DB_KIND === 'postgres') {
    testDb = await createTestDatabase();
    dbArgs = {
      args: ['--data-dir', tempDir('skillport-cli-data-')],
      env: { DATABASE_URL: testDb.url!, SECRET_KEY },
    };
  } else {
    dbArgs = { args: ['--data-dir', tempDir('skillport-cli-data-')], env: {} };
  }
}, 180_000);

afterAll(async () => {
  await testDb?.dispose();
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

describe('help', () => {
  it('documents every command and flag', async () => {
    const res = await run(['--help']);
    expect(res.code).toBe(0);
    for (const text of [
      'skillport serve',
      'skillport migrate',
      'skillport stdio',
      'skillport admin create',
      'skillport skills import',
      'skillport skills export',
      'skillport secrets rotate',
      'skillport backup',
      'skillport restore',
      'skillport blobs migrate',
      'skillport blobs gc',
      '--port <port>',
      '--host <host>',
      '--data-dir <dir>',
      '--database-url <url>',
      '--email <email>',
      '--username <username>',
      '--password-stdin',
      '--skills-dir <dir>',
      '--out <dir>',
      '--keep-days <days>',
      '--check',
      '--force',
      '--to <store>',
      '--grace-minutes <minutes>',
      '--version',
    ]) {
      expect(res.stdout, text).toContain(text);
    }
    const version = await run(['--version']);
    expect(version.stdout.trim()).toBe(
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
    );
  });

  it('refuses unknown commands and flags', async () => {
    const res = await run(['serve', '--no-such-flag']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/unknown option/);
    expect((await run(['frobnicate'])).code).not.toBe(0);
  });
});

describe('configuration errors', () => {
  it.each([
    [{ PORT: 'abc' }, ['serve'], /PORT: must be a whole number/],
    [{}, ['serve', '--port', '99999'], /PORT: must be a whole number/],
    [{ SECRET_KEY: 'short' }, ['migrate'], /SECRET_KEY: must be at least 32 characters/],
    [
      { DATABASE_URL: 'postgres://127.0.0.1:1/none' },
      ['migrate'],
      /SECRET_KEY: required when DATABASE_URL is set/,
    ],
    [{ SIGNUP: 'sometimes' }, ['serve'], /SIGNUP: /],
  ])('exits 2 naming the variable (%j %j)', async (env, args, message) => {
    const res = await run([...args, '--data-dir', tempDir('skillport-cli-bad-')], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^Invalid configuration:/);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(res.stdout).not.toMatch(/listening/);
  });
});

describe('the embedded default', () => {
  it('serves on a fresh data dir with a generated 0600 secret key that survives a restart', async () => {
    const dataDir = tempDir('skillport-cli-embedded-');
    const first = await serve(['--data-dir', dataDir]);
    let token: string;
    try {
      const api = new Api(first.url);
      expect((await api.get('/health')).status).toBe(200);
      expect((await api.get('/ready')).body.database).toBe(true);
      const reg = await api.post('/api/v1/auth/register', {
        email: 'cli@example.com',
        username: 'cliuser',
        password: 'a-long-enough-password',
      });
      expect(reg.status).toBe(201);
      token = reg.body.access_token;
    } finally {
      expect(await first.stop()).toBe(0);
    }
    const keyFile = path.join(dataDir, 'secret_key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8');
    expect(key.trim().length).toBeGreaterThanOrEqual(32);
    expect(existsSync(path.join(dataDir, 'db'))).toBe(true);

    const second = await serve(['--data-dir', dataDir]);
    try {
      const me = await new Api(second.url, token).get('/api/v1/users/me');
      expect(me.status).toBe(200); // same key: the session from the first run is still valid
      expect(me.body).toMatchObject({ username: 'cliuser', is_admin: true });
    } finally {
      expect(await second.stop()).toBe(0);
    }
    expect(readFileSync(keyFile, 'utf8')).toBe(key);
  });
});

describe(`on the ${TEST_DB_KIND} database`, () => {
  it('migrates, creates an administrator who can log in, and serves', async () => {
    const migrate = await run(['migrate', ...dbArgs.args], dbArgs.env);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toContain(`Database is up to date (${TEST_DB_KIND})`);
    expect((await run(['migrate', ...dbArgs.args], dbArgs.env)).code).toBe(0); // idempotent

    const created = await run(
      ['admin', 'create', '--email', 'Boss@Example.com', '--username', 'boss', ...dbArgs.args],
      dbArgs.env,
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Created administrator boss <boss@example\.com>/);
    const password = /Password \(shown once\): (\S+)/.exec(created.stdout)?.[1];
    expect(password).toBeDefined();
    expect(password!.length).toBeGreaterThanOrEqual(16);

    const piped = await run(
      [
        'admin',
        'create',
        '--email',
        'deputy@example.com',
        '--username',
        'deputy',
        '--password-stdin',
        ...dbArgs.args,
      ],
      dbArgs.env,
      'deputy-chosen-password\n',
    );
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain('deputy-chosen-password');

    const duplicate = await run(
      ['admin', 'create', '--email', 'boss@example.com', '--username', 'boss2', ...dbArgs.args],
      dbArgs.env,
    );
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/email is already taken/);

    const server = await serve(dbArgs.args, dbArgs.env);
    try {
      const api = new Api(server.url);
      expect((await api.get('/health')).status).toBe(200);
      const login = await api.post('/api/v1/auth/login', { login: 'boss', password });
      expect(login.status).toBe(200);
      expect(login.body.user.is_admin).toBe(true);
      const deputy = await api.post('/api/v1/auth/login', {
        login: 'deputy',
        password: 'deputy-chosen-password',
      });
      expect(deputy.status).toBe(200);
      expect(deputy.body.user.is_admin).toBe(true);
      expect(server.output()).not.toContain(password!);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 120_000); // six processes open the database in turn (seconds each for PGlite on a busy machine)
});
