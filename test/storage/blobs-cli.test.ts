import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { Client } from 'minio';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { sha256Hex } from '../../src/shared/crypto.js';
import { ensureBuilt } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';
import { startS3, type TestS3 } from './s3rver.js';

/**
 * `skillport blobs migrate` (both ways) and `skillport blobs gc` as an operator runs them, against the S3-compatible
 * server the S3 tests use; the contents are read back through `skillport skills export`, which reads them from
 * the configured store (and checks their digests on the bucket's side).
 */
const SECRET_KEY = 'blobs-cli-secret-key-0123456789abcdef';
const EMAIL = 'ops@example.com';
let s3: TestS3;
let bucket: Client;
let dir: string;
let testDb: TestDatabase | undefined;
/** Where the CLI keeps its data: a data dir, plus a PostgreSQL database of its own in the PostgreSQL pass. */
let deployment: Record<string, string>;
/** Every file imported, by `<skill>/<path>`. */
const files = new Map<string, Buffer>();

const cli = async (args: string[], env: Record<string, string> = {}) => {
  const r = await runCli(args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'warn', ...deployment, ...env },
  });
  return { code: r.code, out: r.stdout + r.stderr };
};

/** The deployment's database, opened between commands (the embedded one belongs to one process at a time). */
async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const handle = await openDatabase({
    url: deployment.DATABASE_URL,
    embeddedDir: path.join(deployment.DATA_DIR!, 'db'),
    migrate: false,
  });
  try {
    return await fn(handle.db);
  } finally {
    await handle.close();
  }
}
const count = (query: ReturnType<typeof sql>) =>
  withDb(async (db) =>
    Number(((await db.execute(query)) as unknown as { rows: { n: number }[] }).rows[0]!.n),
  );
const INLINE = sql`select count(*)::int as n from blobs where size > 0 and octet_length(data) = size`;
const REMOTE = sql`select count(*)::int as n from blobs where size > 0 and octet_length(data) = 0`;

const objectKey = (digest: string) => `blobs/sha256/${digest}`;
async function objects(): Promise<string[]> {
  const names: string[] = [];
  for await (const o of bucket.listObjectsV2(s3.env.S3_BUCKET!, 'blobs/', true)) {
    names.push((o as { name: string }).name);
  }
  return names.sort();
}

/** `skills export` with `env`, and every exported file compared with what was imported. */
async function expectExportIntact(env: Record<string, string>) {
  const out = mkdtempSync(path.join(dir, 'export-'));
  const r = await cli(['skills', 'export', out, '--user', EMAIL], env);
  expect(r.code, r.out).toBe(0);
  for (const [name, bytes] of files) {
    expect(readFileSync(path.join(out, name)).equals(bytes), name).toBe(true);
  }
}

beforeAll(async () => {
  ensureBuilt();
  s3 = await startS3();
  const url = new URL(s3.env.S3_ENDPOINT!);
  bucket = new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: false,
    accessKey: s3.env.S3_ACCESS_KEY_ID!,
    secretKey: s3.env.S3_SECRET_ACCESS_KEY!,
    region: 'us-east-1',
    pathStyle: true,
  });
  dir = mkdtempSync(path.join(tmpdir(), 'skillport-blobs-cli-'));
  deployment = { DATA_DIR: path.join(dir, 'data') };
  if (TEST_DB_KIND === 'postgres') {
    testDb = await createTestDatabase();
    Object.assign(deployment, { DATABASE_URL: testDb.url!, SECRET_KEY });
  }
  const created = await runCli(
    ['admin', 'create', '--email', EMAIL, '--username', 'ops', '--password-stdin'],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'warn', ...deployment },
      input: 'ops-password-long-enough-1\n',
    },
  );
  expect(created.code, created.stderr).toBe(0);
  const source = path.join(dir, 'skills');
  for (const name of ['alpha', 'beta', 'gamma']) {
    const skill = {
      'SKILL.md': Buffer.from(
        `---\nname: ${name}\ndescription: The ${name} skill, moved between stores.\n---\n# ${name}\n`,
      ),
      'assets/data.bin': randomBytes(3000),
    };
    for (const [file, bytes] of Object.entries(skill)) {
      mkdirSync(path.dirname(path.join(source, name, file)), { recursive: true });
      writeFileSync(path.join(source, name, file), bytes);
      files.set(`${name}/${file}`, bytes);
    }
  }
  const imported = await cli(['skills', 'import', source, '--user', EMAIL]);
  expect(imported.out).toContain('3 imported or unchanged, 0 failed.');
}, 180_000);

afterAll(async () => {
  await testDb?.dispose();
  await s3?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('`blobs migrate` moves every content to the bucket and back, and `blobs gc` removes only what nothing needs', async () => {
  const digests = [...new Set([...files.values()].map(sha256Hex))].sort();
  expect(await count(INLINE)).toBe(digests.length);

  // --- to the bucket: the bytes are there, the rows keep none
  const toS3 = await cli(['blobs', 'migrate', '--to', 's3'], s3.env);
  expect(toS3.code, toS3.out).toBe(0);
  expect(toS3.out).toMatch(new RegExp(`Moved ${digests.length} blobs \\(\\d+ bytes\\) to the bucket\\.`));
  expect(await objects()).toEqual(digests.map(objectKey));
  for (const bytes of files.values()) {
    expect(readFileSync(s3.objectFile(objectKey(sha256Hex(bytes)))).equals(bytes)).toBe(true);
  }
  expect([await count(INLINE), await count(REMOTE)]).toEqual([0, digests.length]);
  await expectExportIntact(s3.env);
  // The database store has nothing to serve now (refused, not empty files).
  const refused = await cli(['skills', 'export', path.join(dir, 'refused'), '--user', EMAIL]);
  expect(refused.code).not.toBe(0);
  expect(refused.out).toMatch(/object storage/);
  expect((await cli(['blobs', 'migrate', '--to', 's3'], s3.env)).out).toContain('Moved 0 blobs');

  // --- gc: leftovers of a crash, a row no version references (with its object) and an object without a row
  const orphanRow = randomBytes(100);
  const strayObject = randomBytes(100);
  for (const bytes of [orphanRow, strayObject]) {
    await bucket.putObject(s3.env.S3_BUCKET!, objectKey(sha256Hex(bytes)), bytes);
  }
  await withDb((db) =>
    db.execute(sql`insert into blobs (sha256, size, data) values (${sha256Hex(orphanRow)}, 100, ''::bytea)`),
  );
  const gc = await cli(['blobs', 'gc'], s3.env);
  expect(gc.code, gc.out).toBe(0);
  // The stray object is younger than the default grace period (60 minutes): left alone for now.
  expect(gc.out).toContain(`Deleted 1 unreferenced blob rows and 0 of ${digests.length + 1} objects.`);
  expect(await objects()).toEqual([...digests, sha256Hex(strayObject)].sort().map(objectKey));
  const swept = await cli(['blobs', 'gc', '--grace-minutes', '0'], s3.env);
  expect(swept.out).toContain(`Deleted 0 unreferenced blob rows and 1 of ${digests.length + 1} objects.`);
  expect(await objects()).toEqual(digests.map(objectKey));
  await expectExportIntact(s3.env);

  // --- back into the database: the bucket is emptied, the database store serves everything again
  const toDb = await cli(['blobs', 'migrate', '--to', 'db'], s3.env);
  expect(toDb.code, toDb.out).toBe(0);
  expect(toDb.out).toMatch(new RegExp(`Moved ${digests.length} blobs \\(\\d+ bytes\\) to the database\\.`));
  expect(await objects()).toEqual([]);
  expect([await count(INLINE), await count(REMOTE)]).toEqual([digests.length, 0]);
  expect((await cli(['blobs', 'migrate', '--to', 'db'], s3.env)).out).toContain('Moved 0 blobs');
  await expectExportIntact({});

  // --- gc on the database store: an unreferenced row goes, the referenced ones stay
  const orphan = randomBytes(50);
  await withDb((db) =>
    db.execute(sql`insert into blobs (sha256, size, data) values (${sha256Hex(orphan)}, 50, ${orphan})`),
  );
  const dbGc = await cli(['blobs', 'gc']);
  expect(dbGc.code, dbGc.out).toBe(0);
  expect(dbGc.out).toContain('Deleted 1 unreferenced blobs.');
  expect(await count(INLINE)).toBe(digests.length);
  await expectExportIntact({});
}, 300_000);
