import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { and, asc, eq, gt, inArray, sql, type SQL } from 'drizzle-orm';
import { tables, type Executor, type Transaction } from '../db/index.js';
import { InternalError } from '../shared/errors.js';

/**
 * Where file contents live, addressed by their SHA-256. The database store keeps server instances
 * stateless; a filesystem or S3-compatible store implements the same four calls.
 *
 * Invariant (both stores): a blob row is never deleted while a version references it or an upload is about
 * to, so neither a delete nor an upload of the same bytes fails on the foreign key from `version_files`:
 * - an upload locks the blob rows it will reference that already exist FOR KEY SHARE, in digest order, before
 *   referencing them (`lockPresent`; the service does the same for the bytes it does not send again because
 *   the uploader's own versions hold them); a row deleted meanwhile is reported missing and written again.
 * - garbage collection (DatabaseBlobStore) first locks the unreferenced candidates FOR UPDATE SKIP LOCKED —
 *   a row an upload holds is skipped, left for a later collection — then, in a new statement (hence a new
 *   snapshot, which sees every reference committed before the lock), deletes those locked rows that are still
 *   unreferenced. No reference can be committed to a row while the collector holds it, and the collector
 *   never waits for a row lock, so it cannot take part in a deadlock.
 */
export interface BlobStore {
  /**
   * Stores contents inside the caller's transaction and returns their digests in order. Every content goes
   * through the full write path even when the store already has those bytes: blobs are shared between users,
   * so a shortcut for bytes that exist would tell, by its speed, that somebody else uploaded them. (The
   * service leaves out what the uploader's own versions already reference.)
   */
  putMany(tx: Transaction, contents: Buffer[]): Promise<string[]>;
  get(exec: Executor, sha256: string): Promise<Buffer | null>;
  getMany(exec: Executor, digests: string[]): Promise<Map<string, Buffer>>;
  /** Deletes blobs no version references any more; limited to `candidates` when given. */
  collectGarbage(tx: Transaction, candidates?: string[]): Promise<number>;
}

/** Bytes per row: what one statement moves at most (about 15 ms of PGlite work). */
export const BLOB_CHUNK_BYTES = 256 * 1024;
/** Chunk rows fetched per query when reading a large blob back. */
const CHUNKS_PER_READ = 8;
/** Bytes hashed between two turns of the event loop. */
const HASH_STEP_BYTES = 1024 * 1024;
const digests = new WeakMap<Buffer, string>();
/** Rows deleted per statement by a collection. */
const GC_BATCH = 500;

/**
 * The SHA-256 (hex) of `data`, hashed a step at a time with a turn of the event loop in between (hashing an
 * upload's 100 MiB at once holds it for half a second). Remembered per buffer, so that the service and the
 * store hash an upload's files once between them; file buffers are never changed after unpacking.
 */
export async function digestOf(data: Buffer): Promise<string> {
  const known = digests.get(data);
  if (known) return known;
  const hash = createHash('sha256');
  for (let at = 0; at < data.length; at += HASH_STEP_BYTES) {
    hash.update(data.subarray(at, at + HASH_STEP_BYTES));
    if (at + HASH_STEP_BYTES < data.length) await nextTurn();
  }
  const digest = hash.digest('hex');
  digests.set(data, digest);
  return digest;
}

/**
 * Blobs in the database, cut into BLOB_CHUNK_BYTES rows (`blobs.data` holds the first, `blob_chunks` the
 * rest). Between statements the event loop gets a turn: PGlite runs each statement on the event loop and
 * resolves its promise without one, so a long run of statements would otherwise hold it.
 */
export class DatabaseBlobStore implements BlobStore {
  async putMany(tx: Transaction, contents: Buffer[]): Promise<string[]> {
    const digests: string[] = [];
    for (const data of contents) digests.push(await digestOf(data));
    const unique = new Map<string, Buffer>();
    digests.forEach((digest, i) => unique.set(digest, contents[i]!));
    // Existing rows are held first, so that a concurrent collection cannot delete them under this upload.
    await lockPresent(tx, digests);
    // In digest order, so that two uploads sharing some blobs lock their rows in the same order (no deadlock).
    for (const digest of [...unique.keys()].sort()) await this.write(tx, digest, unique.get(digest)!);
    return digests;
  }

  /** Writes (or rewrites, with the same bytes) one blob: the same statements whether it existed or not. */
  private async write(tx: Transaction, digest: string, data: Buffer): Promise<void> {
    const first = data.subarray(0, BLOB_CHUNK_BYTES);
    await tx
      .insert(tables.blobs)
      .values({ sha256: digest, size: data.length, data: first })
      .onConflictDoUpdate({
        target: tables.blobs.sha256,
        set: { data: sql`excluded.data`, size: sql`excluded.size` },
      });
    await nextTurn();
    for (let seq = 1; seq * BLOB_CHUNK_BYTES < data.length; seq++) {
      const chunk = data.subarray(seq * BLOB_CHUNK_BYTES, (seq + 1) * BLOB_CHUNK_BYTES);
      await tx
        .insert(tables.blobChunks)
        .values({ sha256: digest, seq, data: chunk })
        .onConflictDoUpdate({
          target: [tables.blobChunks.sha256, tables.blobChunks.seq],
          set: { data: sql`excluded.data` },
        });
      await nextTurn();
    }
  }

  async get(exec: Executor, digest: string): Promise<Buffer | null> {
    return (await this.getMany(exec, [digest])).get(digest) ?? null;
  }

  async getMany(exec: Executor, digests: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const unique = [...new Set(digests)];
    // Fetch in slices so that one query never returns an unbounded amount of data.
    for (let i = 0; i < unique.length; i += 50) {
      const rows = await exec
        .select({ sha256: tables.blobs.sha256, size: tables.blobs.size, data: tables.blobs.data })
        .from(tables.blobs)
        .where(inArray(tables.blobs.sha256, unique.slice(i, i + 50)));
      await nextTurn();
      for (const row of rows) out.set(row.sha256, await this.rest(exec, row));
    }
    return out;
  }

  /** The whole blob: its first chunk plus the chunk rows, if any, read a few at a time. */
  private async rest(exec: Executor, row: { sha256: string; size: number; data: Buffer }): Promise<Buffer> {
    if (heldInBucket(row)) {
      throw new InternalError(
        'blob_integrity',
        `Blob ${row.sha256} is in object storage: set BLOB_STORE=s3, or run \`skillport blobs migrate --to db\``,
      );
    }
    if (row.data.length >= row.size) return row.data;
    const parts = [row.data];
    let seq = 0;
    for (;;) {
      const chunks = await exec
        .select({ seq: tables.blobChunks.seq, data: tables.blobChunks.data })
        .from(tables.blobChunks)
        .where(and(eq(tables.blobChunks.sha256, row.sha256), gt(tables.blobChunks.seq, seq)))
        .orderBy(asc(tables.blobChunks.seq))
        .limit(CHUNKS_PER_READ);
      await nextTurn();
      for (const chunk of chunks) parts.push(chunk.data);
      if (chunks.length < CHUNKS_PER_READ) break;
      seq = chunks[chunks.length - 1]!.seq;
    }
    return Buffer.concat(parts, row.size);
  }

  async collectGarbage(tx: Transaction, candidates?: string[]): Promise<number> {
    if (candidates && candidates.length === 0) return 0;
    const scope = candidateScope(candidates);
    // Rows an upload holds (FOR KEY SHARE, see lockPresent) are skipped: that upload is about to reference them.
    const locked = rowsOf<{ sha256: string }>(
      await tx.execute(
        sql`select b.sha256 from blobs b where not exists (select 1 from version_files f where f.sha256 = b.sha256)
            ${scope} order by b.sha256 for update skip locked`,
      ),
    ).map((r) => r.sha256);
    let deleted = 0;
    for (let i = 0; i < locked.length; i += GC_BATCH) {
      const batch = locked.slice(i, i + GC_BATCH);
      // A new statement, so a new snapshot: references committed before the lock above are seen here.
      // Chunk rows go with their blob (on delete cascade).
      const result = await tx.execute(
        sql`delete from blobs b where b.sha256 in (${sql.join(
          batch.map((d) => sql`${d}`),
          sql`, `,
        )}) and not exists (select 1 from version_files f where f.sha256 = b.sha256) returning b.sha256`,
      );
      deleted += rowsOf(result).length;
      await nextTurn();
    }
    return deleted;
  }
}

/**
 * The digests that already have a row, locked FOR KEY SHARE (in digest order) until the caller's transaction
 * ends: a concurrent collection skips them (or, in the S3 store, waits, then sees the new references). A row
 * deleted meanwhile is reported missing.
 */
export async function lockPresent(tx: Transaction, digests: string[]): Promise<Set<string>> {
  const present = new Set<string>();
  const unique = [...new Set(digests)].sort();
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await tx
      .select({ sha256: tables.blobs.sha256 })
      .from(tables.blobs)
      .where(inArray(tables.blobs.sha256, unique.slice(i, i + 500)))
      .orderBy(tables.blobs.sha256)
      .for('key share');
    for (const r of rows) present.add(r.sha256);
  }
  return present;
}

/** The rows of a raw `execute()` (the same shape on PGlite and node-postgres). */
/** The SQL condition limiting a collection to `candidates` on blobs aliased `b` (none: every blob). */
export function candidateScope(candidates?: string[]): SQL {
  return candidates
    ? sql`and b.sha256 in (${sql.join(
        candidates.map((c) => sql`${c}`),
        sql`, `,
      )})`
    : sql``;
}

export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

/** A blob row whose bytes live in object storage (see blob-store-s3.ts): its `data` is empty though the blob is not. */
export function heldInBucket(row: { size: number; data: Buffer }): boolean {
  return row.data.length === 0 && Number(row.size) > 0;
}
