import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { ensureBuilt } from '../helpers/build.js';
import { killServers, runCli, serveCli, type Served } from '../helpers/cli.js';

/**
 * The embedded data dir has one owner process. Real `skillport serve` processes (the embedded database does
 * not depend on SKILLPORT_TEST_DB): a second server and CLI commands are refused while one owns the dir, nothing
 * the owner acknowledged is lost, and a kill -9 leaves no lock that blocks the next start.
 */
let root: string;
let dataDir: string;
let cwd: string;
const env = () => ({ PATH: process.env.PATH ?? '', HOME: cwd, LOG_LEVEL: 'warn' });
const serve = () => serveCli(['--port', '0', '--data-dir', dataDir], { cwd, env: env() });
const run = (args: string[]) => runCli(args, { cwd, env: env() });
let owner: Served | undefined;
/** Each step starts embedded servers (PGlite takes seconds to open, more on a busy machine). */
const SLOW = 180_000;

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(path.join(tmpdir(), 'skillport-lock-'));
  dataDir = path.join(root, 'data');
  cwd = path.join(root, 'cwd');
  mkdirSync(cwd);
}, 180_000);
afterAll(async () => {
  await killServers();
  rmSync(root, { recursive: true, force: true });
});

async function loginAll(api: Api, names: string[]): Promise<number[]> {
  const statuses: number[] = [];
  for (const n of names) {
    statuses.push(
      (await api.post('/api/v1/auth/login', { login: n, password: `pw-${n}-long-enough` })).status,
    );
  }
  return statuses;
}

describe('one owner per embedded data dir', () => {
  const users: string[] = [];

  it(
    'refuses a second server on the same data dir; the first keeps every user',
    async () => {
      owner = await serve();
      const api = new Api(owner.url);
      for (const n of ['first1', 'first2']) users.push((await registerUser(api, n)).user.username);

      const second = await runCli(['serve', '--port', '0', '--data-dir', dataDir], { cwd, env: env() });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(path.join(dataDir, 'db'));
      expect(second.stderr).toContain(`pid ${owner.child.pid}`);
      expect(second.stderr).toMatch(/Stop it first, or give this server a --data-dir of its own/);
      expect(second.stdout).not.toMatch(/listening/);
      expect(second.stderr).not.toMatch(/\n\s+at /);

      users.push((await registerUser(api, 'first3')).user.username);
      expect(await owner.stop()).toBe(0);
      owner = await serve();
      expect(await loginAll(new Api(owner.url), users)).toEqual([200, 200, 200]);
    },
    SLOW,
  );

  it(
    'refuses `skills import` and `admin create` while the server runs, and loses nothing',
    async () => {
      const skills = path.join(root, 'skills');
      mkdirSync(path.join(skills, 'notes'), { recursive: true });
      writeFileSync(
        path.join(skills, 'notes', 'SKILL.md'),
        '---\nname: notes\ndescription: Notes.\n---\nBody\n',
      );
      const imported = await run([
        'skills',
        'import',
        skills,
        '--user',
        'first1@example.com',
        '--data-dir',
        dataDir,
      ]);
      expect(imported.code).toBe(1);
      expect(imported.stdout).not.toMatch(/imported/);
      expect(imported.stderr).toContain(`pid ${owner!.child.pid}`);
      expect(imported.stderr).toMatch(
        /upload each skill through the running server: curl .*\/api\/v1\/skills/,
      );
      const admin = await run([
        'admin',
        'create',
        '--email',
        'x@example.com',
        '--username',
        'xadmin',
        '--data-dir',
        dataDir,
      ]);
      expect(admin.code).toBe(1);
      expect(admin.stderr).toMatch(/Stop that server/);

      const api = new Api(owner!.url);
      users.push((await registerUser(api, 'during')).user.username);
      expect(await owner!.stop()).toBe(0);

      // Stopped: the same import now works, and every user is still there.
      const after = await run([
        'skills',
        'import',
        skills,
        '--user',
        'first1@example.com',
        '--data-dir',
        dataDir,
      ]);
      expect(after.stderr).toBe('');
      expect(after.stdout).toMatch(/created\s+notes v1/);
      owner = await serve();
      expect(await loginAll(new Api(owner.url), users)).toEqual([200, 200, 200, 200]);
    },
    SLOW,
  );

  it(
    'a kill -9 of the owner leaves no lock in the way of the next start',
    async () => {
      const killed = owner!;
      killed.child.kill('SIGKILL');
      await killed.exited;
      expect(existsSync(path.join(dataDir, 'db', 'skillport.lock'))).toBe(true); // the dead owner's record
      owner = await serve();
      const api = new Api(owner.url);
      expect(await loginAll(api, users)).toEqual([200, 200, 200, 200]);
      expect(await owner.stop()).toBe(0);
      expect(existsSync(path.join(dataDir, 'db', 'skillport.lock'))).toBe(false); // released on a clean stop
    },
    SLOW,
  );
});
