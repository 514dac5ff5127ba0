import { sql } from 'drizzle-orm';
import type { Database } from '../db/index.js';
import { sha256Hex } from '../shared/crypto.js';
import { DatabaseBlobStore } from './blob-store.js';
import { lockDigest, rowsOf, type S3BlobStore } from './blob-store-s3.js';

export interface MigrationReport {
  to: 'db' | 's3';
  moved: number;
  bytes: number;
}

const BATCH = 20;
/** How blob bytes are kept in the database: a first chunk in `blobs.data`, the rest in `blob_chunks`. */
const database = new DatabaseBlobStore();

/**
 * Moves blob contents between the database and the bucket, in small batches that each commit on their own:
 * an interrupted run loses nothing and the next run continues where it stopped (it selects only the rows still
 * on the other side), and running it twice is harmless. The server may keep running meanwhile: the S3 store
 * reads both kinds of rows, and every step keeps blob-store-s3.ts's invariant (an object is written before the
 * row that needs it commits, and deleted only after no row needs it).
 */
export async function migrateBlobs(
  db: Database,
  store: S3BlobStore,
  to: 'db' | 's3',
  onBatch: (report: MigrationReport) => void = () => undefined,
): Promise<MigrationReport> {
  const report: MigrationReport = { to, moved: 0, bytes: 0 };
  for (;;) {
    const digests = to === 's3' ? await moveBatchToBucket(db, store) : await moveBatchToDatabase(db, store);
    if (!digests.length) return report;
    report.moved += digests.length;
    report.bytes += digests.reduce((n, d) => n + d.size, 0);
    if (to === 'db') {
      // The rows now hold the bytes; the objects go (each re-checked under its lock).
      await store.deleteUnreferenced(digests.map((d) => d.sha256).sort());
    }
    onBatch({ ...report });
  }
}

interface Moved {
  sha256: string;
  size: number;
}

async function moveBatchToBucket(db: Database, store: S3BlobStore): Promise<Moved[]> {
  return db.transaction(async (tx) => {
    const rows = rowsOf<{ sha256: string; size: number }>(
      await tx.execute(
        sql`select sha256, size from blobs where size > 0 and octet_length(data) > 0
            order by sha256 limit ${BATCH} for no key update`,
      ),
    );
    for (const row of rows) {
      const data = (await database.get(tx, row.sha256))!; // its first chunk and the chunk rows
      if (sha256Hex(data) !== row.sha256) {
        throw new Error(`Blob ${row.sha256} in the database does not match its digest; not migrated`);
      }
      await lockDigest(tx, row.sha256);
      await store.putObject(row.sha256, data);
      const stat = await store.client.statObject(store.settings.bucket, store.key(row.sha256));
      if (stat.size !== Number(row.size)) throw new Error(`Object for blob ${row.sha256} has the wrong size`);
      await tx.execute(sql`update blobs set data = ''::bytea where sha256 = ${row.sha256}`);
      await tx.execute(sql`delete from blob_chunks where sha256 = ${row.sha256}`);
    }
    return rows.map((r) => ({ sha256: r.sha256, size: Number(r.size) }));
  });
}

async function moveBatchToDatabase(db: Database, store: S3BlobStore): Promise<Moved[]> {
  return db.transaction(async (tx) => {
    const rows = rowsOf<{ sha256: string; size: number }>(
      await tx.execute(
        sql`select sha256, size from blobs where size > 0 and octet_length(data) = 0
            order by sha256 limit ${BATCH} for no key update`,
      ),
    );
    for (const row of rows) {
      const data = await store.getObject(row.sha256); // verified against its digest
      await database.putMany(tx, [data]); // rewrites the row with its chunks, as an upload would
    }
    return rows.map((r) => ({ sha256: r.sha256, size: Number(r.size) }));
  });
}
