import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backupFileName } from '../../src/backup/index.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';

/** `skillport backup` and `skillport restore` as an operator runs them (from source, through tsx). */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const SECRET_KEY = 'backup-cli-secret-key-0123456789abcdef';
let dir: string;
const databases: TestDatabase[] = [];

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, path.join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'warn', ...env },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** The settings of one deployment: a data dir, plus a database of its own on PostgreSQL. */
async function deployment(name: string): Promise<Record<string, string>> {
  const env: Record<string, string> = { DATA_DIR: path.join(dir, name) };
  if (TEST_DB_KIND === 'postgres') {
    const db = await createTestDatabase();
    databases.push(db);
    await db.handle.close();
    Object.assign(env, { DATABASE_URL: db.url!, SECRET_KEY });
  }
  return env;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'skillport-backup-cli-'));
});
afterAll(async () => {
  for (const db of databases) await db.dispose().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

it('backs up, prunes, verifies and restores from the command line, refusing a target with data', async () => {
  const source = await deployment('source');
  const created = await run(['admin', 'create', '--email', 'ops@example.com', '--username', 'ops'], source);
  expect(created.code, created.out).toBe(0);

  const out = path.join(dir, 'backups');
  const old = backupFileName(new Date(Date.now() - 3 * 24 * 3600 * 1000));
  mkdirSync(out);
  writeFileSync(path.join(out, old), 'an old backup');
  const backup = await run(['backup', '--out', out, '--keep-days', '2'], source);
  expect(backup.code, backup.out).toBe(0);
  expect(backup.out).toMatch(/Wrote .*skillport-backup-\d{8}T\d{9}Z\.zip: 1 users/);
  expect(backup.out).toContain(`Deleted ${old}`);
  const [archive] = readdirSync(out);
  expect(readdirSync(out)).toHaveLength(1);

  const check = await run(['restore', path.join(out, archive!), '--check'], {});
  expect(check.code, check.out).toBe(0);
  expect(check.out).toContain('is intact');

  const target = await deployment('target');
  const restored = await run(['restore', path.join(out, archive!)], target);
  expect(restored.code, restored.out).toBe(0);
  expect(restored.out).toMatch(/Restored the backup of .*"users":1/);
  if (TEST_DB_KIND === 'pglite') {
    // The generated key came along, so sessions signed before the backup stay valid.
    expect(readFileSync(path.join(target.DATA_DIR!, 'secret_key'), 'utf8')).toBe(
      readFileSync(path.join(source.DATA_DIR!, 'secret_key'), 'utf8'),
    );
  }
  // The restored account exists: creating it again is refused.
  const again = await run(['admin', 'create', '--email', 'ops@example.com', '--username', 'ops'], target);
  expect(again.code).not.toBe(0);

  const refused = await run(['restore', path.join(out, archive!)], target);
  expect(refused.code).toBe(1);
  expect(refused.out).toMatch(/not empty.*--force/);
  const forced = await run(['restore', path.join(out, archive!), '--force'], target);
  expect(forced.code, forced.out).toBe(0);
}, 300_000);
