import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, restoreBackup } from '../../src/backup/index.js';
import { s3Settings, parseEnv } from '../../src/config/index.js';
import { migrateBlobs, S3BlobStore } from '../../src/skills/index.js';
import { sha256Hex } from '../../src/shared/crypto.js';
import { Api, registerUser } from '../helpers/api.js';
import { createTestDatabase } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';
import { expectIntact, fileBytes, uploadVersion, type Uploaded } from '../backup/fixtures.js';
import { S3_SECRET, startS3, type TestS3 } from './s3rver.js';

let s3: TestS3;
let t: TestServer;
let alice: Api;

const store = () => t.server.ctx.blobs as S3BlobStore;
const objectExists = (digest: string) => existsSync(s3.objectFile(`blobs/sha256/${digest}`));
const rows = async (server: TestServer, query: ReturnType<typeof sql>) =>
  ((await server.server.ctx.db.db.execute(query)) as unknown as { rows: any[] }).rows;

beforeAll(async () => {
  s3 = await startS3();
  t = await startTestServer(s3.env);
  alice = (await registerUser(new Api(t.baseUrl), 's3alice')).api;
});
afterAll(async () => {
  await t?.close();
  await s3?.close();
});

describe('S3 blob store through the REST API', () => {
  it('stores contents as objects, reads them back byte for byte, and deletes only unreferenced ones', async () => {
    expect(t.server.ctx.blobs).toBeInstanceOf(S3BlobStore);
    const v1 = await uploadVersion(alice, 'stored', 5000);
    const v2 = await uploadVersion(alice, 'stored', 6000);
    await expectIntact(alice, [v1, v2]);
    const d1 = sha256Hex(v1.files.get('assets/blob.bin')!);
    const d2 = sha256Hex(v2.files.get('assets/blob.bin')!);
    const skillMd = sha256Hex(v1.files.get('SKILL.md')!); // the same in both versions
    expect([d1, d2, skillMd].map(objectExists)).toEqual([true, true, true]);
    // The database keeps the index only.
    const [row] = await rows(
      t,
      sql`select size, octet_length(data) as stored from blobs where sha256 = ${d1}`,
    );
    expect([Number(row.size), Number(row.stored)]).toEqual([5000, 0]);

    expect((await alice.delete('/api/v1/skills/stored/versions/1')).status).toBe(204);
    await store().settled();
    expect([d1, d2, skillMd].map(objectExists)).toEqual([false, true, true]);
    await expectIntact(alice, [v2]);

    expect((await alice.delete('/api/v1/skills/stored')).status).toBe(204);
    await store().settled();
    expect([d2, skillMd].map(objectExists)).toEqual([false, false]);
    expect(t.logs.join('\n')).not.toContain(S3_SECRET);
  });

  it('never serves an object whose bytes do not match its digest, nor a missing one', async () => {
    const v = await uploadVersion(alice, 'tampered', 3000);
    const original = v.files.get('assets/blob.bin')!;
    const file = s3.objectFile(`blobs/sha256/${sha256Hex(original)}`);
    const forged = Buffer.from(readFileSync(file));
    forged[10]! ^= 0xff;
    writeFileSync(file, forged);
    const res = await fetch(`${t.baseUrl}/api/v1/skills/tampered/versions/1/files/assets/blob.bin`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error.code).toBe('blob_integrity');
    expect(body.error.message).toMatch(/does not match its digest/);
    expect(JSON.stringify(body)).not.toContain(forged.subarray(0, 64).toString('base64'));

    rmSync(s3.objectFile(`blobs/sha256/${sha256Hex(v.files.get('scripts/run.py')!)}`));
    const missing = await alice.get('/api/v1/skills/tampered/versions/1/files/scripts/run.py');
    expect(missing.status).toBe(500);
    expect(missing.body.error.message).toMatch(/is missing/);
    // Deleting the damaged skill is still possible (and leaves the next tests a clean bucket).
    expect((await alice.delete('/api/v1/skills/tampered')).status).toBe(204);
    await store().settled();
  });

  it('garbage collection never deletes an object a committed version references, under concurrent uploads', async () => {
    const common = randomBytes(4096); // every skill carries it: deleted and re-uploaded all the time
    const kept: Uploaded[] = [];
    let stop = false;
    const sweeper = (async () => {
      let sweeps = 0;
      while (!stop || sweeps === 0) {
        await store().sweep(0); // no grace period: only the locks protect in-flight uploads
        sweeps++;
      }
      return sweeps;
    })();
    const worker = async (w: number) => {
      for (let n = 0; n < 6; n++) {
        const name = `gc-${w}-${n}`;
        const zip = await skillZip(name, `The ${name} skill. Use it in GC tests.`, [
          { path: 'common.bin', data: common },
        ]);
        const res = await alice.post('/api/v1/skills', zip);
        if (res.status !== 201) console.log(t.logs.filter((l) => l.includes('"level":50')).join('\n'));
        expect(res.status, res.text).toBe(201);
        // Acknowledged, so it must read back even while other workers delete skills with the same bytes.
        expect((await fileBytes(alice, name, 1, 'common.bin')).equals(common)).toBe(true);
        if (n % 3 === 2) {
          const md = (await fileBytes(alice, name, 1, 'SKILL.md')) as Buffer;
          kept.push({
            name,
            version: 1,
            files: new Map([
              ['common.bin', common],
              ['SKILL.md', md],
            ]),
          });
        } else {
          const del = await alice.delete(`/api/v1/skills/${name}`);
          if (del.status !== 204) console.log(t.logs.filter((l) => l.includes('"level":50')).join('\n'));
          expect(del.status).toBe(204);
        }
      }
    };
    try {
      await Promise.all([0, 1, 2, 3].map(worker));
    } finally {
      stop = true; // also when a worker failed: the sweeper must not outlive the test's database
    }
    expect(await sweeper).toBeGreaterThan(0);
    await store().settled();
    await store().sweep(0);
    await expectIntact(alice, kept);
    expect(objectExists(sha256Hex(common))).toBe(true);
    // Nothing is left behind either: every object in the bucket is one a row needs.
    const external = await rows(t, sql`select sha256 from blobs where size > 0 and octet_length(data) = 0`);
    const objects: string[] = [];
    for await (const o of store().client.listObjectsV2(s3.env.S3_BUCKET!, 'blobs/sha256/', true)) {
      objects.push((o as { name: string }).name.slice('blobs/sha256/'.length));
    }
    expect(objects.sort()).toEqual(external.map((r) => r.sha256).sort());
  });
});

describe('moving blobs between the database and the bucket', () => {
  it('migrates to s3 and back, idempotent and resumable after an interruption', async () => {
    const dbServer = await startTestServer({ BLOB_STORE: 'db' });
    try {
      const bob = (await registerUser(new Api(dbServer.baseUrl), 'migbob')).api;
      const versions: Uploaded[] = [];
      for (let i = 0; i < 12; i++) versions.push(await uploadVersion(bob, `mig-${i}`, 100 + i));
      const database = dbServer.server.ctx.db.db;
      const bucket = await S3BlobStore.open(
        database,
        s3Settings(parseEnv({ ...s3.env, S3_PREFIX: 'mig/' }))!,
      );
      const remote = sql`select count(*)::int as n from blobs where size > 0 and octet_length(data) = 0`;
      const inline = sql`select count(*)::int as n from blobs where size > 0 and octet_length(data) = size`;
      const total = Number((await rows(dbServer, inline))[0].n);
      expect(total).toBeGreaterThan(20); // more than one batch

      // Interrupted after the first batch: what was moved stays moved, the rest follows on the next run.
      await expect(
        migrateBlobs(database, bucket, 's3', () => {
          throw new Error('interrupted');
        }),
      ).rejects.toThrow('interrupted');
      expect(Number((await rows(dbServer, remote))[0].n)).toBe(20);
      const report = await migrateBlobs(database, bucket, 's3');
      expect(report.moved).toBe(total - 20);
      expect((await migrateBlobs(database, bucket, 's3')).moved).toBe(0);
      expect(Number((await rows(dbServer, inline))[0].n)).toBe(0);

      // The database store refuses clearly rather than serving empty files; an S3 server on the same data reads all.
      const refused = await bob.get('/api/v1/skills/mig-0/versions/1/files/SKILL.md');
      expect(refused.status).toBe(500);
      expect(refused.body.error.message).toMatch(/object storage/);
      const reader = await startTestServer(
        { ...s3.env, S3_PREFIX: 'mig/', SECRET_KEY: dbServer.secretKey },
        {
          sharedDatabase: {
            handle: dbServer.server.ctx.db,
            url: dbServer.server.ctx.config.DATABASE_URL,
            dispose: async () => undefined,
          },
        },
      );
      try {
        await expectIntact(new Api(reader.baseUrl, bob.token), versions);
      } finally {
        await reader.close();
      }

      const back = await migrateBlobs(database, bucket, 'db');
      expect(back.moved).toBe(total);
      expect((await migrateBlobs(database, bucket, 'db')).moved).toBe(0);
      expect(Number((await rows(dbServer, remote))[0].n)).toBe(0);
      await expectIntact(bob, versions);
      const leftovers: unknown[] = [];
      for await (const o of bucket.client.listObjectsV2(s3.env.S3_BUCKET!, 'mig/', true)) leftovers.push(o);
      expect(leftovers).toEqual([]);
    } finally {
      await dbServer.close();
    }
  }, 120_000);
});

describe('backups with blobs in the bucket', () => {
  it('copies the objects into the archive and restores them into a database store or a bucket', async () => {
    const v = await uploadVersion(alice, 'backed-up', 9000);
    const out = mkdtempSync(path.join(tmpdir(), 'skillport-s3-backup-'));
    const target = await createTestDatabase();
    try {
      const { manifest, file } = await createBackup({
        database: t.server.ctx.db,
        databaseUrl: t.server.ctx.config.DATABASE_URL,
        s3: store(),
        outDir: out,
        version: 'test',
      });
      expect(manifest.blob_store).toBe('s3');
      expect(
        manifest.members.some((m) => m.name === `blobs/${sha256Hex(v.files.get('assets/blob.bin')!)}`),
      ).toBe(true);
      await restoreBackup({ file, database: target.handle });
      const restored = await startTestServer(
        { BLOB_STORE: 'db', SECRET_KEY: t.secretKey },
        { sharedDatabase: target },
      );
      try {
        await expectIntact(new Api(restored.baseUrl, alice.token), [v]);
      } finally {
        await restored.close();
      }
      // And into a bucket: objects first, then the rows that need them.
      const intoBucket = await createTestDatabase();
      try {
        const env = { ...s3.env, S3_PREFIX: 'restored/' };
        const bucket = await S3BlobStore.open(intoBucket.handle.db, s3Settings(parseEnv(env))!);
        await restoreBackup({ file, database: intoBucket.handle, s3: bucket });
        const remote = await intoBucket.handle.db.execute(
          sql`select count(*)::int as n from blobs where size > 0 and octet_length(data) = 0`,
        );
        expect(Number((remote as unknown as { rows: { n: number }[] }).rows[0]!.n)).toBeGreaterThan(0);
        expect(
          existsSync(s3.objectFile(`restored/sha256/${sha256Hex(v.files.get('assets/blob.bin')!)}`)),
        ).toBe(true);
        const fromBucket = await startTestServer(
          { ...env, SECRET_KEY: t.secretKey },
          { sharedDatabase: intoBucket },
        );
        try {
          await expectIntact(new Api(fromBucket.baseUrl, alice.token), [v]);
        } finally {
          await fromBucket.close();
        }
      } finally {
        await intoBucket.dispose();
      }
    } finally {
      await target.dispose();
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
