import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import {
  createBackup,
  pruneBackups,
  restoreBackup,
  verifyBackup,
  backupFileName,
} from '../../src/backup/index.js';
import { ArchiveReader } from '../../src/backup/archive.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { createTestDatabase } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';
import { contents, expectIntact, uploadVersion, type Uploaded } from './fixtures.js';

let source: TestServer;
let out: string;
let archive: string;
let alice: Awaited<ReturnType<typeof registerUser>>;
let bobToken: string;
const uploaded: Uploaded[] = [];

beforeAll(async () => {
  source = await startTestServer();
  out = mkdtempSync(path.join(tmpdir(), 'skillport-backups-'));
  const anon = new Api(source.baseUrl);
  alice = await registerUser(anon, 'backupalice');
  const bob = await registerUser(anon, 'backupbob');
  bobToken = await createApiToken(bob.api, ['api', 'mcp']);
  uploaded.push(await uploadVersion(alice.api, 'alpha'), await uploadVersion(alice.api, 'alpha', 70_000));
  uploaded.push(await uploadVersion(bob.api, 'beta', 10));
  // The search index is derived in the background: let it catch up, so that the backup is the settled state.
  await until('the search index to catch up', () => source.server.ctx.search.indexer.idle());
  const result = await createBackup({
    database: source.server.ctx.db,
    databaseUrl: source.server.ctx.config.DATABASE_URL,
    outDir: out,
    version: 'test',
  });
  archive = result.file;
});
afterAll(async () => {
  await source.close();
  rmSync(out, { recursive: true, force: true });
});

describe('backup → wipe → restore', () => {
  it('writes an archive with a manifest: schema, counts and a checksum per member', async () => {
    const manifest = await verifyBackup(archive);
    expect(path.basename(archive)).toMatch(/^skillport-backup-\d{8}T\d{9}Z\.zip$/);
    expect(manifest.schema.migration).toMatch(/^\d{4}_/);
    expect(manifest.counts).toMatchObject({ users: 2, skills: 2, skill_versions: 3, version_files: 9 });
    expect(manifest.members.find((m) => m.name === 'db/users.ndjson')?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.members.filter((m) => m.name.startsWith('blobs/')).length).toBe(manifest.counts.blobs);
  });

  it('restores into an empty database: every row and every byte equal, logins and tokens still work', async () => {
    const target = await createTestDatabase();
    try {
      await restoreBackup({ file: archive, database: target.handle });
      const restored = await startTestServer({ SECRET_KEY: source.secretKey }, { sharedDatabase: target });
      try {
        const ctx = source.server.ctx;
        expect(await contents(target.handle.db, restored.server.ctx.blobs)).toEqual(
          await contents(ctx.db.db, ctx.blobs),
        );
        const anon = new Api(restored.baseUrl);
        // The source server's session token, its API token and the password all work against the restored data.
        await expectIntact(new Api(restored.baseUrl, alice.api.token), uploaded.slice(0, 2));
        const login = await anon.post('/api/v1/auth/login', { login: alice.email, password: alice.password });
        expect(login.status).toBe(200);
        const bob = anon.withToken(bobToken);
        await expectIntact(bob, uploaded.slice(2));
        const mcp = await connectMcp(restored.baseUrl, bobToken);
        const listed = await mcp.callTool({ name: 'load_skill_metadata', arguments: {} });
        expect(resultText(listed)).toContain('beta');
        await mcp.close();
        // New rows get fresh identities after the restored ones (sequences continue).
        expect((await uploadVersion(bob, 'gamma')).version).toBe(1);
      } finally {
        await restored.close();
      }
    } finally {
      await target.dispose().catch(() => undefined);
    }
  }, 120_000);

  it('refuses to restore over data unless forced, and then replaces it', async () => {
    const target = await createTestDatabase();
    try {
      await restoreBackup({ file: archive, database: target.handle });
      await expect(restoreBackup({ file: archive, database: target.handle })).rejects.toThrow(
        /not empty.*--force/,
      );
      await restoreBackup({ file: archive, database: target.handle, force: true });
      const ctx = source.server.ctx;
      const restoredContents = await contents(target.handle.db, ctx.blobs);
      expect(restoredContents.users).toEqual((await contents(ctx.db.db, ctx.blobs)).users);
    } finally {
      await target.dispose();
    }
  }, 120_000);
});

describe('damaged archives', () => {
  async function rewrite(file: string, change: (name: string, data: Buffer) => Buffer): Promise<void> {
    const reader = await ArchiveReader.open(archive);
    const zip = new yazl.ZipFile();
    for (const name of reader.entries.keys()) zip.addBuffer(change(name, await reader.read(name)), name);
    reader.close();
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
    writeFileSync(file, Buffer.concat(chunks));
  }

  it('detects a changed member, a changed manifest and flipped bytes before touching the target', async () => {
    const target = await createTestDatabase();
    try {
      const tampered = path.join(out, 'tampered-member.zip');
      await rewrite(tampered, (name, data) =>
        name.startsWith('blobs/') && data.length ? Buffer.concat([data.subarray(1), Buffer.from('x')]) : data,
      );
      await expect(restoreBackup({ file: tampered, database: target.handle })).rejects.toThrow(
        /checksum mismatch/,
      );

      const manifestChanged = path.join(out, 'tampered-manifest.zip');
      await rewrite(manifestChanged, (name, data) =>
        name === 'manifest.json' ? Buffer.from(data.toString().replace('"users": 2', '"users": 3')) : data,
      );
      await expect(verifyBackup(manifestChanged)).rejects.toThrow(/manifest does not match/);

      const flipped = path.join(out, 'flipped.zip');
      const bytes = readFileSync(archive);
      bytes[Math.floor(bytes.length / 3)]! ^= 0xff;
      writeFileSync(flipped, bytes);
      await expect(verifyBackup(flipped)).rejects.toThrow(/damaged|not a readable|unreadable/);

      const { nonEmptyTables, listTables } = await import('../../src/backup/snapshot.js');
      expect(await nonEmptyTables(target.handle.db, await listTables(target.handle.db))).toEqual([]);
    } finally {
      await target.dispose();
    }
  }, 120_000);
});

describe('retention', () => {
  it('deletes backups older than --keep-days by the time in their name, and nothing else', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'skillport-retention-'));
    try {
      const now = new Date('2026-11-30T03:00:00.000Z');
      const day = 24 * 3600 * 1000;
      const names = [1, 6, 7.5, 8, 30].map((d) => backupFileName(new Date(now.getTime() - d * day)));
      for (const n of names) writeFileSync(path.join(dir, n), 'x');
      writeFileSync(path.join(dir, `${backupFileName(new Date(now.getTime() - 9 * day))}.partial`), 'x');
      writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
      writeFileSync(path.join(dir, 'skillport-backup-garbage.zip'), 'not ours');
      const deleted = await pruneBackups(dir, 7, now);
      expect(deleted.length).toBe(4);
      expect(readdirSync(dir).sort()).toEqual(
        [names[0]!, names[1]!, 'notes.txt', 'skillport-backup-garbage.zip'].sort(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
