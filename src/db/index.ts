import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { schema } from './schema.js';
import { lockDataDir } from './dir-lock.js';
import {
  MIGRATIONS_DIR,
  migrationsCurrent,
  ping,
  type Database,
  type DatabaseHandle,
  type OpenOptions,
} from './handle.js';
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
export type { Database, DatabaseHandle, Executor, OpenOptions, Transaction } from './handle.js';

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

export async function openDatabase(opts: OpenOptions): Promise<DatabaseHandle> {
  // The PostgreSQL driver is loaded only when DATABASE_URL is set (the embedded database needs none of it).
  const handle = opts.url
    ? (await import('./postgres.js')).openPostgres(opts.url, opts.poolSize ?? 10, opts)
    : await openPglite(opts.embeddedDir, opts.vectors !== false, opts.migrate !== false);
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

async function openPglite(
  dir: string | undefined,
  vectors: boolean,
  migrate: boolean,
): Promise<DatabaseHandle> {
  // The lock comes first: a second process must be refused before it reads (and later overwrites) the files.
  const lock = dir ? lockDataDir(createDir(dir)) : null;
  let client: PGlite;
  try {
    if (dir && !existsSync(path.join(dir, 'PG_VERSION'))) await initialiseInChild(dir, migrate);
    // pgvector is loaded (not created) here: search creates the extension when it starts (search/pgvector.ts).
    client = await PGlite.create({
      ...(dir ? { dataDir: dir } : {}),
      ...BYTEA_AS_BINARY,
      ...(vectors ? { extensions: { vector: (await import('@electric-sql/pglite-pgvector')).vector } } : {}),
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
    // One query tells that nothing is to be done, before the migrator reads and hashes every file (PostgreSQL's
    // migrate takes its lock first instead, and its first contact names DATABASE_URL when it fails).
    migrate: async () => {
      if (!(await migrationsCurrent(db)))
        await migratePglite(db as never, { migrationsFolder: MIGRATIONS_DIR });
    },
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
 * Creates a fresh embedded database (initdb) in a child process, and applies the migrations there too. PGlite runs
 * initdb in two WebAssembly instances whose memories a process never gives back: a server that created its data
 * dir stayed at 830–847 MiB RSS until restarted, against ≈350 MiB after a restart (issue 11); running every
 * migration grows the database's memory as well (+30 MiB over a restarted server, which the issue's +60 MiB
 * target did not leave room for). The child takes that memory with it when it exits; this process then opens the
 * ready dir like any existing one, and its migration check finds nothing to do. The child gets an empty
 * environment (no secrets).
 */
async function initialiseInChild(dir: string, migrate: boolean): Promise<void> {
  const modulePath = createRequire(import.meta.url).resolve;
  const script = [
    `const { PGlite } = require(${JSON.stringify(modulePath('@electric-sql/pglite'))});`,
    'PGlite.create({ dataDir: process.argv[1] })',
    '  .then(async (db) => {',
    '    if (process.argv[2]) {',
    `      const { drizzle } = require(${JSON.stringify(modulePath('drizzle-orm/pglite'))});`,
    `      const { migrate } = require(${JSON.stringify(modulePath('drizzle-orm/pglite/migrator'))});`,
    '      await migrate(drizzle(db), { migrationsFolder: process.argv[2] });',
    '    }',
    '    await db.close();',
    '  })',
    '  .catch((err) => { console.error((err && err.message) || String(err)); process.exit(1); });',
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, dir, ...(migrate ? [MIGRATIONS_DIR] : [])], {
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
