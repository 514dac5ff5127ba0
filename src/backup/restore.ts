import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { DatabaseHandle } from '../db/index.js';
import { sha256Hex } from '../shared/crypto.js';
import { lockDigest, type S3BlobStore } from '../skills/index.js';
import { ArchiveReader, lines, MANIFEST, MANIFEST_DIGEST } from './archive.js';
import { FORMAT, FORMAT_VERSION, SECRET_KEY_MEMBER, type Manifest } from './backup.js';
import {
  BLOBS_TABLE,
  insertBlob,
  insertLines,
  listTables,
  nonEmptyTables,
  resetSequences,
  schemaMigration,
  truncateAll,
} from './snapshot.js';

/** A backup that cannot be used as it is: damaged, of another format, or for another schema. */
export class BackupError extends Error {
  override name = 'BackupError';
}

/** Reads every member and checks it against the manifest (and the manifest against its own digest). */
export async function verifyBackup(file: string): Promise<Manifest> {
  let reader: ArchiveReader;
  try {
    reader = await ArchiveReader.open(file);
  } catch (err) {
    throw new BackupError(`${file} is not a readable backup archive: ${(err as Error).message}`);
  }
  try {
    const problems: string[] = [];
    const manifestBytes = await reader.read(MANIFEST).catch(() => null);
    const expected = await reader.read(MANIFEST_DIGEST).catch(() => null);
    if (!manifestBytes || !expected) throw new BackupError(`${file} has no manifest: not a Skillport backup`);
    if (sha256Hex(manifestBytes) !== expected.toString().trim()) {
      throw new BackupError(`${file}: the manifest does not match its checksum (the archive is damaged)`);
    }
    const manifest = JSON.parse(manifestBytes.toString()) as Manifest;
    if (manifest.format !== FORMAT || manifest.format_version !== FORMAT_VERSION) {
      throw new BackupError(
        `${file}: unsupported backup format ${manifest.format} v${manifest.format_version}`,
      );
    }
    const listed = new Set(manifest.members.map((m) => m.name));
    for (const name of reader.entries.keys()) {
      if (!listed.has(name) && name !== MANIFEST && name !== MANIFEST_DIGEST)
        problems.push(`${name}: not listed`);
    }
    for (const member of manifest.members) {
      if (!reader.entries.has(member.name)) {
        problems.push(`${member.name}: missing`);
        continue;
      }
      const actual = await reader.digest(member.name).catch((err: Error) => err);
      if (actual instanceof Error) problems.push(`${member.name}: unreadable (${actual.message})`);
      else if (actual.sha256 !== member.sha256 || actual.size !== member.size) {
        problems.push(`${member.name}: checksum mismatch`);
      }
    }
    if (problems.length) {
      const shown =
        problems.slice(0, 10).join('; ') + (problems.length > 10 ? `; and ${problems.length - 10} more` : '');
      throw new BackupError(`${file} is damaged: ${shown}`);
    }
    return manifest;
  } finally {
    reader.close();
  }
}

export interface RestoreOptions {
  file: string;
  /** The target database, migrated to the current schema. */
  database: DatabaseHandle;
  /** The object store to put blob bytes in (BLOB_STORE=s3); otherwise they go into the database. */
  s3?: S3BlobStore | null;
  /** Replace the target's rows (and a different secret key) instead of refusing. */
  force?: boolean;
  /** Where the embedded set-up keeps its generated key; the backup's key is written there. */
  secretKeyFile?: string;
}

/**
 * Restores a backup into an empty database. The whole archive is verified before anything is written; the rows
 * then go in with one transaction (all or nothing). Objects are put in the bucket before the rows that need them
 * commit, as blob-store-s3.ts requires.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<Manifest> {
  const manifest = await verifyBackup(opts.file);
  const { db } = opts.database;
  const current = await schemaMigration(db);
  if (current.createdAt !== manifest.schema.migration_created_at) {
    throw new BackupError(
      `The backup is of schema ${manifest.schema.migration}, this database is at ${current.tag}: restore with the ` +
        `Skillport version that wrote it (${manifest.skillport_version}), then upgrade`,
    );
  }
  const tables = await listTables(db);
  const occupied = await nonEmptyTables(db, tables);
  if (occupied.length && !opts.force) {
    throw new BackupError(
      `The target database is not empty (rows in ${occupied.join(', ')}); restore into an empty one, or pass --force to replace its contents`,
    );
  }
  const reader = await ArchiveReader.open(opts.file);
  try {
    const key = manifest.members.some((m) => m.name === SECRET_KEY_MEMBER)
      ? await reader.read(SECRET_KEY_MEMBER)
      : null;
    if (key && opts.secretKeyFile && existsSync(opts.secretKeyFile) && !opts.force) {
      if (!readFileSync(opts.secretKeyFile).equals(key)) {
        throw new BackupError(
          `${opts.secretKeyFile} holds another secret key; pass --force to replace it with the backup's`,
        );
      }
    }
    await db.transaction(async (tx) => {
      if (occupied.length) await truncateAll(tx, tables);
      for (const table of manifest.tables) {
        if (!tables.includes(table))
          throw new BackupError(`The backup has a table this schema lacks: ${table}`);
        const source = lines(await reader.stream(`db/${table}.ndjson`));
        if (table !== BLOBS_TABLE) {
          await insertLines(tx, table, source);
          continue;
        }
        for await (const line of source) {
          const { sha256 } = JSON.parse(line) as { sha256: string };
          const data = await reader.read(`blobs/${sha256}`);
          if (sha256Hex(data) !== sha256) throw new BackupError(`Blob ${sha256} does not match its digest`);
          if (opts.s3 && data.length > 0) {
            await lockDigest(tx, sha256);
            await opts.s3.putObject(sha256, data);
            await insertBlob(tx, line, Buffer.alloc(0));
          } else {
            await insertBlob(tx, line, data);
          }
        }
      }
      await resetSequences(tx);
    });
    if (key && opts.secretKeyFile) writeFileSync(opts.secretKeyFile, key, { mode: 0o600 });
    return manifest;
  } finally {
    reader.close();
  }
}
