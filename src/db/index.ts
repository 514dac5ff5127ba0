import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { sql, type ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { schema } from './schema.js';
import { lockDataDir } from './dir-lock.js';
import { ResilientPool } from './postgres.js';
import { redactUrl } from '../shared/redact.js';
import { describeFsError } from '../shared/fs-errors.js';

export * as tables from './schema.js';
export { DataDirLockedError } from './dir-lock.js';
export {
  DatabaseUnavailableError,
  isDatabaseUnavailable,
  isUniqueViolation,
  violatedConstraint,
} from './errors.js';
export { afterTimeId, cursorTime, timeIdCursor, type TimeIdCursor } from './keyset.js';

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

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');
const BYTEA_OID = 17;
/**
 * bytea parameters go to PGlite as bytes, in the protocol's binary format: a serializer that returns the
 * Uint8Array itself makes PGlite's Bind message carry it as a binary parameter (pg-protocol's writeValues), so no
 * string is built at all. PGlite's default builds one JavaScript string per byte; the hex string we used before
 * cost PGlite a character-by-character UTF-8 length count (45 % of a 10 MiB upload's CPU, issue 11). PGlite's
 * Serializer type says `string`, hence the cast. Results still come back as text (hex), decoded natively.
 */
const BYTEA_AS_BINARY = {
  serializers: { [BYTEA_OID]: ((v: Uint8Array) => v) as unknown as (v: unknown) => string },
  parsers: { [BYTEA_OID]: (v: string) => Buffer.from(v.slice(2), 'hex') },
};

/** Arbitrary constant: serialises migrations when several instances start at once. */
const MIGRATION_LOCK_KEY = 7_346_201;
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
  /** PostgreSQL: the database went away (requests get 503 until it answers again). */
  onConnectionError?: (err: Error) => void;
  /** PostgreSQL: the database answers again after having gone away. */
  onRecovered?: () => void;
}

export async function openDatabase(opts: OpenOptions): Promise<DatabaseHandle> {
  const handle = opts.url
    ? openPostgres(opts.url, opts.poolSize ?? 10, opts)
    : await openPglite(opts.embeddedDir);
  if (opts.migrate !== false) {
    try {
      await handle.migrate();
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
  return handle;
}

async function openPglite(dir: string | undefined): Promise<DatabaseHandle> {
  // The lock comes first: a second process must be refused before it reads (and later overwrites) the files.
  const lock = dir ? lockDataDir(createDir(dir)) : null;
  let client: PGlite;
  try {
    if (dir && !existsSync(path.join(dir, 'PG_VERSION'))) await initialiseInChild(dir);
    // pgvector is loaded (not created) here: search creates the extension when it starts (search/pgvector.ts).
    client = await PGlite.create({
      ...(dir ? { dataDir: dir } : {}),
      ...BYTEA_AS_BINARY,
      extensions: { vector },
    });
  } catch (err) {
    lock?.release();
    throw err;
  }
  const db = drizzlePglite(client, { schema }) as unknown as Database;
  return {
    db,
    kind: 'pglite',
    ping: () => ping(db),
    migrate: () => migratePglite(db as never, { migrationsFolder: MIGRATIONS_DIR }),
    async close() {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

/**
 * Creates a fresh embedded database (initdb) in a child process. PGlite runs initdb in two WebAssembly instances
 * whose memories a process never gives back: a server that created its data dir stayed at 830–847 MiB RSS until
 * restarted, against ≈350 MiB after a restart (issue 11). The child takes that memory with it when it exits; this
 * process then opens the ready dir like any existing one. The child gets an empty environment (no secrets).
 */
async function initialiseInChild(dir: string): Promise<void> {
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script = [
    `const { PGlite } = require(${JSON.stringify(pglite)});`,
    'PGlite.create({ dataDir: process.argv[1] })',
    '  .then((db) => db.close())',
    '  .catch((err) => { console.error((err && err.message) || String(err)); process.exit(1); });',
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, dir], {
      env: {},
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.once('error', reject);
    child.once('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              `Creating the embedded database failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
            ),
          ),
    );
  });
}

/** Creates the embedded database's folder, turning file-system errors into a message an operator can act on. */
function createDir(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    return dir;
  } catch (err) {
    throw new Error(`Cannot use the embedded database folder: ${describeFsError(err, dir)}`, { cause: err });
  }
}

function openPostgres(url: string, poolSize: number, opts: OpenOptions): DatabaseHandle {
  const resilient = new ResilientPool({
    url,
    max: poolSize,
    onConnectionError: opts.onConnectionError,
    onRecovered: opts.onRecovered,
  });
  const db = drizzlePg(resilient.pool, { schema }) as unknown as Database;
  return {
    db,
    kind: 'postgres',
    ping: () => (resilient.unavailable ? Promise.resolve(false) : ping(db)),
    migrate: () => migratePostgres(url),
    close: () => resilient.close(),
  };
}

/** A health check that answers in bounded time (for /ready and the metrics), whatever the database does. */
async function ping(db: Database): Promise<boolean> {
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

/** Migrations run on a dedicated session holding an advisory lock, so instances starting together take turns. */
async function migratePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a failure mid-migration surfaces from the query that was running
  try {
    await client.connect();
  } catch (err) {
    // The first contact with DATABASE_URL: say which setting is wrong, without its password.
    throw new Error(
      `Cannot connect to PostgreSQL at DATABASE_URL (${redactUrl(url)}): ${(err as Error).message || String(err)}`,
      { cause: err },
    );
  }
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await migratePg(drizzlePg(client), { migrationsFolder: MIGRATIONS_DIR });
  } finally {
    await client.end(); // ending the session releases the lock
  }
}
