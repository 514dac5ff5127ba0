import { createHash } from 'node:crypto';
import { and, eq, gt, inArray, sql } from 'drizzle-orm';
import { Client } from 'minio';
import { tables, type Database, type Executor, type Transaction } from '../db/index.js';
import { AppError } from '../shared/errors.js';
import { sha256Hex } from '../shared/crypto.js';
import type { BlobStore } from './blob-store.js';

/**
 * File contents in an S3-compatible bucket under `<prefix>sha256/<hex>`; the `blobs` table stays the index
 * (sha256, size) that `version_files` references, with an empty `data` for a blob that lives in the bucket
 * (`size > 0` and `data` empty; rows whose data is inline are still served, so a half-migrated store works).
 *
 * Invariant: every committed `blobs` row that is not inline has its object in the bucket, hence every committed
 * version can be read. It follows from the order of writes and deletes across the database and the bucket:
 * - put: take the digest's advisory lock in shared mode (transaction-scoped), PUT the object, then insert the
 *   row in the caller's transaction: the row can only commit after the object exists.
 * - delete: `collectGarbage` deletes rows in the caller's transaction (the foreign key from `version_files`
 *   refuses to delete a row that a committed version references) and takes the same shared locks. Each object is
 *   then deleted by a follow-up transaction of its own that takes the digest's lock exclusively — so it runs only
 *   after the caller's transaction has ended and while no upload of the same bytes is in flight — and that
 *   deletes the object only if no row exists at that moment. An upload starting later waits for the lock and
 *   PUTs the object again.
 * - backups hold `BACKUP_LOCK` exclusively for their whole snapshot; object deletes try to take it shared and
 *   are skipped while a backup reads objects (and a backup waits for deletes in progress). Whatever is left behind (a skipped or failed
 *   delete, an upload whose transaction rolled back, a crash) is removed by `sweep()`, which lists the bucket and
 *   applies the same rule to objects older than a grace period.
 * Locks are always taken in digest order, so two transactions cannot wait on each other.
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
const READ_CONCURRENCY = 8;

export class BlobIntegrityError extends AppError {
  constructor(digest: string, problem: string) {
    super(500, 'blob_integrity', `Stored content of blob ${digest} ${problem}; it is not served`);
  }
}

export class S3BlobStore implements BlobStore {
  readonly client: Client;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    readonly settings: S3Settings,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    const url = new URL(settings.endpoint);
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      useSSL: url.protocol === 'https:',
      accessKey: settings.accessKeyId,
      secretKey: settings.secretAccessKey,
      region: settings.region,
      pathStyle: true,
    });
  }

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
    const digests = contents.map((data) => sha256Hex(data));
    const present = await presentDigests(tx, digests);
    const missing = new Map<string, Buffer>();
    digests.forEach((d, i) => {
      if (!present.has(d)) missing.set(d, contents[i]!);
    });
    for (const digest of [...missing.keys()].sort()) {
      const data = missing.get(digest)!;
      await lockDigest(tx, digest, 'shared');
      if (data.length > 0) await this.putObject(digest, data);
      await tx
        .insert(tables.blobs)
        .values({ sha256: digest, size: data.length, data: Buffer.alloc(0) })
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
    return isInline(row) ? row.data : this.getObject(digest);
  }

  async getMany(exec: Executor, digests: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const unique = [...new Set(digests)];
    const remote: string[] = [];
    for (let i = 0; i < unique.length; i += 50) {
      const rows = await exec
        .select({ sha256: tables.blobs.sha256, size: tables.blobs.size, data: tables.blobs.data })
        .from(tables.blobs)
        .where(inArray(tables.blobs.sha256, unique.slice(i, i + 50)));
      for (const r of rows) {
        if (isInline(r)) out.set(r.sha256, r.data);
        else remote.push(r.sha256);
      }
    }
    // A bounded number of object reads at once.
    let next = 0;
    const worker = async () => {
      while (next < remote.length) {
        const digest = remote[next++]!;
        out.set(digest, await this.getObject(digest));
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, remote.length) }, worker));
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
    const scope = candidates
      ? sql`and b.sha256 in (${sql.join(
          candidates.map((c) => sql`${c}`),
          sql`, `,
        )})`
      : sql``;
    const result = await tx.execute(
      sql`delete from blobs b where not exists (select 1 from version_files f where f.sha256 = b.sha256) ${scope}
          returning b.sha256, b.size, octet_length(b.data) as stored`,
    );
    const rows = rowsOf<{ sha256: string; size: number; stored: number }>(result);
    const remote = rows
      .filter((r) => Number(r.size) > 0 && Number(r.stored) === 0)
      .map((r) => r.sha256)
      .sort();
    // The follow-up waits on these locks, so it runs once this transaction has committed or rolled back.
    for (const digest of remote) await lockDigest(tx, digest, 'shared');
    if (remote.length) this.track(this.deleteUnreferenced(remote));
    return rows.length;
  }

  /** Resolves when the object deletes started so far have finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /**
   * Deletes the objects among `digests` that no row references, each under its exclusive lock. Skipped entirely
   * while a backup runs (the next sweep catches them). Returns the digests deleted.
   */
  async deleteUnreferenced(digests: string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (let i = 0; i < digests.length; i += DELETE_BATCH) {
      const batch = digests.slice(i, i + DELETE_BATCH);
      const done = await this.db.transaction(async (tx) => {
        const [free] = rowsOf<{ ok: boolean }>(
          await tx.execute(
            sql`select pg_try_advisory_xact_lock_shared(${BACKUP_LOCK[0]}, ${BACKUP_LOCK[1]}) as ok`,
          ),
        );
        if (!free?.ok) return null;
        const out: string[] = [];
        for (const digest of batch) {
          await lockDigest(tx, digest, 'exclusive');
          const [row] = await tx
            .select({ sha256: tables.blobs.sha256, size: tables.blobs.size, data: tables.blobs.data })
            .from(tables.blobs)
            .where(eq(tables.blobs.sha256, digest));
          if (row && !(isInline(row) && row.size > 0)) continue;
          // A row with inline data no longer needs the object (migrated back to the database).
          await this.client.removeObject(this.settings.bucket, this.key(digest));
          out.push(digest);
        }
        return out;
      });
      if (done === null) break;
      deleted.push(...done);
    }
    return deleted;
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

function isInline(row: { size: number; data: Buffer }): boolean {
  return row.data.length === Number(row.size);
}

async function presentDigests(exec: Executor, digests: string[]): Promise<Set<string>> {
  const present = new Set<string>();
  const unique = [...new Set(digests)];
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await exec
      .select({ sha256: tables.blobs.sha256 })
      .from(tables.blobs)
      .where(inArray(tables.blobs.sha256, unique.slice(i, i + 500)));
    for (const r of rows) present.add(r.sha256);
  }
  return present;
}

/** The digest's transaction-scoped advisory lock; the key is the digest's first 32 bits. */
export async function lockDigest(tx: Executor, digest: string, mode: 'shared' | 'exclusive'): Promise<void> {
  const key = Number.parseInt(digest.slice(0, 8), 16) | 0;
  await tx.execute(
    mode === 'shared'
      ? sql`select pg_advisory_xact_lock_shared(${DIGEST_LOCK_NS}, ${key})`
      : sql`select pg_advisory_xact_lock(${DIGEST_LOCK_NS}, ${key})`,
  );
}

/** The rows of a raw `execute()` (the same shape on PGlite and node-postgres). */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}
