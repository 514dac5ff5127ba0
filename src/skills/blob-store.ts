import { inArray, sql } from 'drizzle-orm';
import { tables, type Executor, type Transaction } from '../db/index.js';
import { sha256Hex } from '../shared/crypto.js';
import { AppError } from '../shared/errors.js';

/**
 * Where file contents live, addressed by their SHA-256. The database store keeps server instances
 * stateless; a filesystem or S3-compatible store implements the same four calls.
 */
export interface BlobStore {
  /** Stores contents (idempotent) inside the caller's transaction; returns their digests in order. */
  putMany(tx: Transaction, contents: Buffer[]): Promise<string[]>;
  get(exec: Executor, sha256: string): Promise<Buffer | null>;
  getMany(exec: Executor, digests: string[]): Promise<Map<string, Buffer>>;
  /** Deletes blobs no version references any more; limited to `candidates` when given. */
  collectGarbage(tx: Transaction, candidates?: string[]): Promise<number>;
}

export class DatabaseBlobStore implements BlobStore {
  async putMany(tx: Transaction, contents: Buffer[]): Promise<string[]> {
    const digests = contents.map((data) => sha256Hex(data));
    // Bytes the store already has are not sent again: re-uploading a skill transfers only what changed.
    const present = new Set<string>();
    const unique = [...new Set(digests)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await tx
        .select({ sha256: tables.blobs.sha256 })
        .from(tables.blobs)
        .where(inArray(tables.blobs.sha256, unique.slice(i, i + 500)));
      for (const r of rows) present.add(r.sha256);
    }
    const written = new Set<string>();
    for (let i = 0; i < contents.length; i++) {
      const digest = digests[i]!;
      if (present.has(digest) || written.has(digest)) continue;
      written.add(digest);
      await tx
        .insert(tables.blobs)
        .values({ sha256: digest, size: contents[i]!.length, data: contents[i]! })
        .onConflictDoNothing({ target: tables.blobs.sha256 });
    }
    return digests;
  }

  async get(exec: Executor, digest: string): Promise<Buffer | null> {
    const [row] = await exec
      .select({ size: tables.blobs.size, data: tables.blobs.data })
      .from(tables.blobs)
      .where(sql`${tables.blobs.sha256} = ${digest}`);
    return row ? inlineData(digest, row) : null;
  }

  async getMany(exec: Executor, digests: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const unique = [...new Set(digests)];
    // Fetch in slices so that one query never returns an unbounded amount of data.
    for (let i = 0; i < unique.length; i += 50) {
      const slice = unique.slice(i, i + 50);
      const rows = await exec
        .select({ sha256: tables.blobs.sha256, size: tables.blobs.size, data: tables.blobs.data })
        .from(tables.blobs)
        .where(inArray(tables.blobs.sha256, slice));
      for (const r of rows) out.set(r.sha256, inlineData(r.sha256, r));
    }
    return out;
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
      sql`delete from blobs b where not exists (select 1 from version_files f where f.sha256 = b.sha256) ${scope} returning b.sha256`,
    );
    return (result as unknown as { rows: unknown[] }).rows.length;
  }
}

/** A row whose bytes live in object storage (see blob-store-s3.ts) is an error here, never served as empty. */
function inlineData(digest: string, row: { size: number; data: Buffer }): Buffer {
  if (row.data.length === Number(row.size)) return row.data;
  throw new AppError(
    500,
    'blob_integrity',
    `Blob ${digest} is in object storage: set BLOB_STORE=s3, or run \`skillport blobs migrate --to db\``,
  );
}
