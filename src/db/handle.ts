/** The database handle every room receives, its types, and what both drivers share (migrations folder, health check). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { schema } from './schema.js';

type Schema = typeof schema;
/** The query interface every service receives; identical for PGlite and PostgreSQL. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything that can run a query: the database or an open transaction. */
export type Executor = Database | Transaction;

export interface DatabaseHandle {
  db: Database;
  kind: 'pglite' | 'postgres';
  ping(): Promise<boolean>;
  /** Applies pending migrations from /migrations. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');
/** Arbitrary constant: serialises migrations when several instances start at once. */
export const MIGRATION_LOCK_KEY = 7_346_201;
/** /ready must answer within 2 s even when the database hangs. */
const PING_TIMEOUT_MS = 1_500;

export interface OpenOptions {
  /** PostgreSQL URL; without it the embedded PGlite database is used. */
  url?: string;
  /** Data folder for PGlite; omitted means in memory (tests). */
  embeddedDir?: string;
  poolSize?: number;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /**
   * PGlite: load the pgvector extension (default true). Only search by embeddings uses it, and loading it costs
   * ≈0.1–0.2 s of every start (issue 11), so the server asks for it only when embeddings are configured. A data
   * dir that has the extension opens without it: its cache table is then left alone (search/pgvector.ts).
   */
  vectors?: boolean;
  /** PostgreSQL: the database went away (requests get 503 until it answers again). */
  onConnectionError?: (err: Error) => void;
  /** PostgreSQL: the database answers again after having gone away. */
  onRecovered?: () => void;
}

/**
 * True when the database's newest applied migration is at least the newest in migrations/meta/_journal.json: then
 * drizzle's migrator would apply nothing (it applies the journal's entries newer than the newest applied one), so
 * a start need not read and hash every migration file and run its five statements (issue 11). False when in
 * doubt (no migrations table yet): the migrator decides.
 */
export async function migrationsCurrent(db: Database): Promise<boolean> {
  const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as {
    entries: Array<{ when: number }>;
  };
  const newest = Math.max(...journal.entries.map((e) => e.when));
  try {
    const { rows } = (await db.execute(
      sql`select max(created_at) as applied from drizzle.__drizzle_migrations`,
    )) as unknown as { rows: [{ applied: string | number | null }] };
    return rows[0].applied != null && Number(rows[0].applied) >= newest;
  } catch {
    return false;
  }
}

/** A health check that answers in bounded time (for /ready and the metrics), whatever the database does. */
export async function ping(db: Database): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
  });
  const answered = db.execute(sql`select 1`).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}
