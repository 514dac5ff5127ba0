import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { openDatabase, type DatabaseHandle, type Executor } from '../db/index.js';
import { DatabaseBlobStore, BACKUP_LOCK, rowsOf, type S3BlobStore } from '../skills/index.js';
import { writeArchive, type MemberDigest, type MemberSource } from './archive.js';
import { listTables, schemaMigration, tableLines } from './snapshot.js';

export const FORMAT = 'skillport-backup';
export const FORMAT_VERSION = 1;
export const SECRET_KEY_MEMBER = 'secret_key';
const FILE_PATTERN = /^skillport-backup-(\d{8}T\d{9}Z)\.zip(\.partial)?$/;

export interface Manifest {
  format: typeof FORMAT;
  format_version: number;
  skillport_version: string;
  created_at: string;
  database: 'pglite' | 'postgres';
  /** The last migration of the schema the rows belong to; a restore needs the same schema. */
  schema: { migration: string; migration_created_at: number };
  blob_store: 'db' | 's3';
  /** Rows per table, plus `blob_bytes`. */
  counts: Record<string, number>;
  tables: string[];
  members: MemberDigest[];
}

export interface BackupOptions {
  /** The database to copy. For PostgreSQL pass `databaseUrl` too: the snapshot runs on a session of its own. */
  database: DatabaseHandle;
  databaseUrl?: string;
  /** The object store, when blobs live in S3 (their bytes are copied into the archive). */
  s3?: S3BlobStore | null;
  outDir: string;
  /** The embedded set-up's generated key (DATA_DIR/secret_key), kept so that sessions survive a restore. */
  secretKeyFile?: string;
  version: string;
  now?: Date;
}

/**
 * Writes one archive: every table from one REPEATABLE READ, READ ONLY transaction (a single consistent snapshot:
 * every version committed before the backup started is in it, with all its files), every blob those rows
 * index (from the database or the bucket, checked against its digest), and a manifest with a SHA-256 per member.
 * Written as `<name>.partial` and renamed once complete and synced, so a crash never leaves a file that looks
 * like a backup.
 */
export async function createBackup(opts: BackupOptions): Promise<{ file: string; manifest: Manifest }> {
  const now = opts.now ?? new Date();
  await mkdir(opts.outDir, { recursive: true, mode: 0o700 });
  const file = path.join(opts.outDir, backupFileName(now));
  const partial = `${file}.partial`;
  let manifest: Manifest | undefined;
  try {
    await inSnapshot(opts, async (exec) => {
      manifest = await writeSnapshot(exec, opts, partial, now);
    });
    const handle = await open(partial, 'r');
    await handle.sync();
    await handle.close();
    await rename(partial, file);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return { file, manifest: manifest! };
}

/**
 * PostgreSQL: a session of its own takes the backup lock (object deletes pause, see blob-store-s3.ts) before the
 * snapshot is taken, so no object a snapshot row needs can go while the backup reads it. PGlite: one process,
 * and its transactions run one at a time, so the transaction alone is the snapshot.
 */
async function inSnapshot(opts: BackupOptions, fn: (exec: Executor) => Promise<void>): Promise<void> {
  const config = { isolationLevel: 'repeatable read', accessMode: 'read only' } as const;
  if (opts.database.kind === 'pglite') {
    await opts.database.db.transaction(fn, config);
    return;
  }
  if (!opts.databaseUrl) throw new Error('A PostgreSQL backup needs the database URL');
  // One connection: the session lock and the transaction must share it.
  const session = await openDatabase({ url: opts.databaseUrl, poolSize: 1, migrate: false });
  try {
    await session.db.execute(sql`select pg_advisory_lock(${BACKUP_LOCK[0]}, ${BACKUP_LOCK[1]})`);
    await session.db.transaction(async (tx) => {
      // The pool could in theory have replaced its connection in between; then the lock is not ours.
      const [held] = rowsOf<{ ok: boolean }>(
        await tx.execute(sql`select exists (select 1 from pg_locks where locktype = 'advisory' and granted
            and pid = pg_backend_pid() and classid = ${BACKUP_LOCK[0]} and objid = ${BACKUP_LOCK[1]}) as ok`),
      );
      if (!held?.ok) throw new Error('Lost the backup lock before the snapshot; run the backup again');
      await fn(tx);
    }, config);
  } finally {
    await session.close(); // ends the session, which releases the lock
  }
}

async function writeSnapshot(
  exec: Executor,
  opts: BackupOptions,
  file: string,
  now: Date,
): Promise<Manifest> {
  const tables = await listTables(exec);
  const schema = await schemaMigration(exec);
  const counts: Record<string, number> = {};
  const blobIndex = rowsOf<{ sha256: string; size: number; stored: number }>(
    await exec.execute(sql`select sha256, size, octet_length(data) as stored from blobs order by sha256`),
  );
  const members: MemberSource[] = tables.map((table) => ({
    name: `db/${table}.ndjson`,
    content: async function* () {
      let n = 0;
      for await (const line of tableLines(exec, table)) {
        n++;
        yield Buffer.from(line + '\n');
      }
      counts[table] = n;
    },
  }));
  counts.blob_bytes = blobIndex.reduce((n, b) => n + Number(b.size), 0);
  for (const blob of blobIndex) {
    members.push({
      name: `blobs/${blob.sha256}`,
      content: async function* () {
        yield await blobBytes(exec, opts.s3 ?? null, blob);
      },
    });
  }
  if (opts.secretKeyFile && existsSync(opts.secretKeyFile)) {
    const key = readFileSync(opts.secretKeyFile);
    members.push({
      name: SECRET_KEY_MEMBER,
      content: async function* () {
        yield key;
      },
    });
  }
  let manifest: Manifest | undefined;
  await writeArchive(
    file,
    members,
    (digests) => {
      manifest = {
        format: FORMAT,
        format_version: FORMAT_VERSION,
        skillport_version: opts.version,
        created_at: now.toISOString(),
        database: opts.database.kind,
        schema: { migration: schema.tag, migration_created_at: schema.createdAt },
        blob_store: opts.s3 ? 's3' : 'db',
        counts,
        tables,
        members: digests,
      };
      return Buffer.from(JSON.stringify(manifest, null, 2));
    },
    now,
  );
  return manifest!;
}

async function blobBytes(
  exec: Executor,
  s3: S3BlobStore | null,
  blob: { sha256: string; size: number; stored: number },
): Promise<Buffer> {
  if (Number(blob.stored) > 0 || Number(blob.size) === 0) {
    return (await new DatabaseBlobStore().get(exec, blob.sha256))!; // its first chunk and the chunk rows
  }
  if (!s3) throw new Error(`Blob ${blob.sha256} is in object storage, but BLOB_STORE is not s3`);
  return s3.getObject(blob.sha256); // verified against its digest
}

export function backupFileName(at: Date): string {
  return `skillport-backup-${at.toISOString().replace(/[-:.]/g, '')}.zip`;
}

/** The time a backup file was taken, from its name; null for files that are not backups. */
export function backupTime(name: string): Date | null {
  const m = FILE_PATTERN.exec(name);
  if (!m) return null;
  const s = m[1]!;
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`;
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? null : at;
}
