import { createHash } from 'node:crypto';
import { and, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Client } from 'minio';
import { tables, type Database, type Executor, type Transaction } from '../db/index.js';
import { InternalError } from '../shared/errors.js';
import {
  candidateScope,
  DatabaseBlobStore,
  digestOf,
  heldInBucket,
  lockPresent,
  rowsOf,
  type BlobStore,
} from './blob-store.js';

export { rowsOf };

/**
 * File contents in an S3-compatible bucket under `<prefix>sha256/<hex>`; the `blobs` table stays the index
 * (sha256, size) that `version_files` references, with an empty `data` for a blob that lives in the bucket
 * (`size > 0` and `data` empty; rows whose bytes are still in the database — `data` and `blob_chunks`, see
 * DatabaseBlobStore — are still served, so a half-migrated store works).
 *
 * Invariant: every committed `blobs` row that is not inline has its object in the bucket, hence every committed
 * version can be read. It follows from the order of writes and deletes across the database and the bucket:
 * - put: rows that already exist are locked FOR KEY SHARE; for a missing digest, take its advisory lock in shared
 *   mode (transaction-scoped), PUT the object, then insert the row in the caller's transaction: the row can only
 *   commit after the object exists.
 * - delete: `collectGarbage` locks the unreferenced rows FOR UPDATE (so it waits for uploads about to reference
 *   them, then sees their files), deletes those of the locked rows still unreferenced in the caller's transaction (the foreign key
 *   from `version_files` refuses to delete a row a committed version references) and takes the digests' shared
 *   advisory locks. A follow-up then deletes each object in a transaction of its own that holds the digest's lock
 *   exclusively — obtainable only once the deleting transaction has ended and no upload of the same bytes is in
 *   flight; it is tried with backoff, never waited for — and only if no row needs the object at that moment. An
 *   upload that starts later PUTs the object again.
 * - backups hold `BACKUP_LOCK` exclusively for their whole snapshot; object deletes try to take it shared and
 *   are skipped while a backup reads objects (and a backup waits for deletes in progress).
 * - leftovers (a skipped or failed delete, an upload whose transaction rolled back, a crash) are removed by
 *   `sweep()`, which lists the bucket and applies the same rule to objects older than a grace period.
 * Row locks and blocking advisory locks are taken in digest order, so transactions cannot wait on each other in
 * a cycle.
 * Reads verify the SHA-256 of what the bucket returns: a mismatch or a missing object is an error, never served.
 */
export interface S3Settings {
  /** http(s)://host[:port] of the S3 API. */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Key prefix inside the bucket (e.g. `skillport/`), may be empty. */
  prefix: string;
}

/** Advisory-lock namespaces (arbitrary constants): one per digest, and one shared by backups and deletes. */
const DIGEST_LOCK_NS = 7_346_202;
export const BACKUP_LOCK: readonly [number, number] = [7_346_203, 1];
const DELETE_BATCH = 200;
/** With backoff from 40 ms, about 10 s for the deleting transaction to end before the sweep takes over. */
const FOLLOW_UP_ATTEMPTS = 10;
/** Object reads and writes in flight at once per call. */
const IO_CONCURRENCY = 8;

export class BlobIntegrityError extends InternalError {
  constructor(digest: string, problem: string) {
    super('blob_integrity', `Stored content of blob ${digest} ${problem}; it is not served`);
  }
}

export class S3BlobStore implements BlobStore {
  private readonly pending = new Set<Promise<void>>();
  /** Reads rows whose bytes are still in the database (a store half-way through `blobs migrate`). */
  private readonly database = new DatabaseBlobStore();

  /**
   * A store on the bucket of `settings`. The S3 client library is loaded here: a server without object storage
   * never loads it (it is the largest import of the start-up otherwise).
   */
  static async open(
    db: Database,
    settings: S3Settings,
    onError: (err: unknown) => void = () => undefined,
  ): Promise<S3BlobStore> {
    const { Client } = await import('minio');
    const url = new URL(settings.endpoint);
    const client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      useSSL: url.protocol === 'https:',
      accessKey: settings.accessKeyId,
      secretKey: settings.secretAccessKey,
      region: settings.region,
      pathStyle: true,
    });
    return new S3BlobStore(db, settings, client, onError);
  }

  private constructor(
    private readonly db: Database,
    readonly settings: S3Settings,
    readonly client: Client,
    private readonly onError: (err: unknown) => void,
  ) {}

  key(digest: string): string {
    return `${this.settings.prefix}sha256/${digest}`;
  }

  /** Fails with a clear message when the bucket is missing or the credentials are refused. */
  async check(): Promise<void> {
    if (!(await this.client.bucketExists(this.settings.bucket))) {
      throw new Error(`S3 bucket "${this.settings.bucket}" does not exist at ${this.settings.endpoint}`);
    }
  }

  async putMany(tx: Transaction, contents: Buffer[]): Promise<string[]> {
    const digests: string[] = [];
    for (const data of contents) digests.push(await digestOf(data));
    const unique = new Map<string, Buffer>();
    digests.forEach((d, i) => unique.set(d, contents[i]!));
    const present = await lockPresent(tx, digests);
    const order = [...unique.keys()].sort();
    for (const digest of order) await lockDigest(tx, digest);
    // Every object is PUT, whether the bucket has it or not: skipping bytes that are already there would tell, by
    // its speed, that another user uploaded them (see BlobStore.putMany).
    await inParallel(order, IO_CONCURRENCY, async (digest) => {
      const data = unique.get(digest)!;
      if (data.length > 0) await this.putObject(digest, data);
    });
    const missing = order.filter((d) => !present.has(d));
    for (let i = 0; i < missing.length; i += 500) {
      await tx
        .insert(tables.blobs)
        .values(
          missing
            .slice(i, i + 500)
            .map((d) => ({ sha256: d, size: unique.get(d)!.length, data: Buffer.alloc(0) })),
        )
        .onConflictDoNothing({ target: tables.blobs.sha256 });
    }
    return digests;
  }

  /** Uploads one object (content-addressed, so a repeated PUT writes the same bytes). */
  async putObject(digest: string, data: Buffer): Promise<void> {
    await this.client.putObject(this.settings.bucket, this.key(digest), data, data.length, {
      'Content-Type': 'application/octet-stream',
    });
  }

  async get(exec: Executor, digest: string): Promise<Buffer | null> {
    const [row] = await exec
      .select({ size: tables.blobs.size, data: tables.blobs.data })
      .from(tables.blobs)
      .where(eq(tables.blobs.sha256, digest));
    if (!row) return null;
    return heldInBucket(row) ? this.getObject(digest) : this.database.get(exec, digest);
  }

  async getMany(exec: Executor, digests: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const unique = [...new Set(digests)];
    const remote: string[] = [];
    const local: string[] = [];
    for (let i = 0; i < unique.length; i += 50) {
      const rows = await exec
        .select({ sha256: tables.blobs.sha256, size: tables.blobs.size, data: tables.blobs.data })
        .from(tables.blobs)
        .where(inArray(tables.blobs.sha256, unique.slice(i, i + 50)));
      for (const r of rows) (heldInBucket(r) ? remote : local).push(r.sha256);
    }
    // Rows still held in the database (a half-migrated store) are read as the database store reads them.
    for (const [digest, data] of await this.database.getMany(exec, local)) out.set(digest, data);
    await inParallel(remote, IO_CONCURRENCY, async (digest) => {
      out.set(digest, await this.getObject(digest));
    });
    return out;
  }

  /** The object's bytes, checked against their digest. */
  async getObject(digest: string): Promise<Buffer> {
    let stream;
    try {
      stream = await this.client.getObject(this.settings.bucket, this.key(digest));
    } catch (err) {
      if ((err as { code?: string }).code === 'NoSuchKey') throw new BlobIntegrityError(digest, 'is missing');
      throw err;
    }
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
    if (hash.digest('hex') !== digest) throw new BlobIntegrityError(digest, 'does not match its digest');
    return Buffer.concat(chunks);
  }

  async collectGarbage(tx: Transaction, candidates?: string[]): Promise<number> {
    if (candidates && candidates.length === 0) return 0;
    const scope = candidateScope(candidates);
    // Rows are locked first (in digest order): an upload that is about to reference one holds it with FOR KEY
    // SHARE (see lockPresent) and commits before the "still unreferenced?" check below sees its files.
    const locked = rowsOf<{ sha256: string }>(
      await tx.execute(
        sql`select b.sha256 from blobs b where not exists (select 1 from version_files f where f.sha256 = b.sha256)
            ${scope} order by b.sha256 for update`,
      ),
    ).map((r) => r.sha256);
    // Only the rows locked above: a row that was still referenced then (its last reference being deleted by a
    // transaction that committed since) may have gained a new reference from an upload this transaction never
    // waited for; a later statement's snapshot would not see it, and deleting the row would break its foreign key.
    const rows: Array<{ sha256: string; size: number; stored: number }> = [];
    for (let i = 0; i < locked.length; i += DELETE_BATCH) {
      const batch = locked.slice(i, i + DELETE_BATCH);
      const result = await tx.execute(
        sql`delete from blobs b where b.sha256 in (${sql.join(
          batch.map((d) => sql`${d}`),
          sql`, `,
        )}) and not exists (select 1 from version_files f where f.sha256 = b.sha256)
            returning b.sha256, b.size, octet_length(b.data) as stored`,
      );
      rows.push(...rowsOf<{ sha256: string; size: number; stored: number }>(result));
    }
    const remote = rows
      .filter((r) => Number(r.size) > 0 && Number(r.stored) === 0)
      .map((r) => r.sha256)
      .sort();
    // Held until this transaction ends: the follow-up cannot delete an object before the row's deletion commits.
    for (const digest of remote) await lockDigest(tx, digest);
    if (remote.length) this.track(this.deleteUnreferenced(remote, FOLLOW_UP_ATTEMPTS));
    return rows.length;
  }

  /** Resolves when the object deletes started so far have finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /**
   * Deletes the objects among `digests` that no row needs, each under its exclusive lock. A digest whose lock is
   * held (the transaction that deleted its row is still open, or an upload of the same bytes is in flight) is
   * retried with backoff `attempts` times; the lock is only ever tried, never waited for, so this cannot take
   * part in a deadlock. Everything is skipped while a backup runs; the next sweep catches what is left. Returns
   * the digests deleted.
   */
  async deleteUnreferenced(digests: string[], attempts = 1): Promise<string[]> {
    const deleted: string[] = [];
    let todo = digests;
    for (let attempt = 0; todo.length && attempt < attempts; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 20 * 2 ** attempt)));
      const busy: string[] = [];
      for (let i = 0; i < todo.length; i += DELETE_BATCH) {
        const done = await this.deleteBatch(todo.slice(i, i + DELETE_BATCH), busy);
        if (!done) return deleted; // a backup is running
        deleted.push(...done);
      }
      todo = busy;
    }
    return deleted;
  }

  private deleteBatch(batch: string[], busy: string[]): Promise<string[] | null> {
    return this.db.transaction(async (tx) => {
      const [free] = rowsOf<{ ok: boolean }>(
        await tx.execute(
          sql`select pg_try_advisory_xact_lock_shared(${BACKUP_LOCK[0]}, ${BACKUP_LOCK[1]}) as ok`,
        ),
      );
      if (!free?.ok) return null;
      const out: string[] = [];
      for (const digest of batch) {
        if (!(await tryLockDigest(tx, digest))) {
          busy.push(digest);
          continue;
        }
        const [row] = await tx
          .select({ size: tables.blobs.size, data: tables.blobs.data })
          .from(tables.blobs)
          .where(eq(tables.blobs.sha256, digest));
        // A row with inline data (migrated back to the database) no longer needs the object.
        if (row && (heldInBucket(row) || Number(row.size) === 0)) continue;
        await this.client.removeObject(this.settings.bucket, this.key(digest));
        out.push(digest);
      }
      return out;
    });
  }

  /**
   * Removes objects no row needs that are older than `graceMs`: leftovers of rolled back uploads, of skipped or
   * failed deletes, and of a migration back to the database. Safe to run on several instances at once.
   */
  async sweep(graceMs: number): Promise<{ checked: number; deleted: number }> {
    const cutoff = Date.now() - graceMs;
    const prefix = `${this.settings.prefix}sha256/`;
    const candidates: string[] = [];
    let checked = 0;
    for await (const item of this.client.listObjectsV2(this.settings.bucket, prefix, true)) {
      const { name, lastModified } = item as { name?: string; lastModified?: Date };
      if (!name) continue;
      checked++;
      const digest = name.slice(prefix.length);
      if (!/^[0-9a-f]{64}$/.test(digest)) continue;
      if (lastModified && lastModified.getTime() > cutoff) continue;
      candidates.push(digest);
    }
    let deleted = 0;
    for (let i = 0; i < candidates.length; i += DELETE_BATCH) {
      const batch = candidates.slice(i, i + DELETE_BATCH);
      const rows = await this.db
        .select({ sha256: tables.blobs.sha256 })
        .from(tables.blobs)
        .where(
          and(inArray(tables.blobs.sha256, batch), gt(tables.blobs.size, 0), sql`octet_length(data) = 0`),
        );
      const referenced = new Set(rows.map((r) => r.sha256));
      deleted += (await this.deleteUnreferenced(batch.filter((d) => !referenced.has(d)).sort())).length;
    }
    return { checked, deleted };
  }

  private track(work: Promise<unknown>): void {
    const p = work.then(
      () => undefined,
      (err) => this.onError(err),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const lockKey = (digest: string) => Number.parseInt(digest.slice(0, 8), 16) | 0;

/** The digest's transaction-scoped advisory lock, shared; the key is the digest's first 32 bits. */
export async function lockDigest(tx: Executor, digest: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock_shared(${DIGEST_LOCK_NS}, ${lockKey(digest)})`);
}

async function tryLockDigest(tx: Executor, digest: string): Promise<boolean> {
  const [row] = rowsOf<{ ok: boolean }>(
    await tx.execute(sql`select pg_try_advisory_xact_lock(${DIGEST_LOCK_NS}, ${lockKey(digest)}) as ok`),
  );
  return Boolean(row?.ok);
}
