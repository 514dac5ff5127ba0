import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.js';

/** `SKILLPORT_TEST_DB=postgres` runs the suite on the machine's PostgreSQL; the default is embedded PGlite. */
export const TEST_DB_KIND: 'pglite' | 'postgres' =
  process.env.SKILLPORT_TEST_DB === 'postgres' ? 'postgres' : 'pglite';
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  handle: DatabaseHandle;
  /** Set for PostgreSQL: the URL of this run's own database. */
  url?: string;
  /** Closes the handle and drops the database. */
  dispose(): Promise<void>;
}

/**
 * A fresh database of its own for one test file (PGlite in memory, or a new PostgreSQL database), migrated
 * unless `migrate: false` (migration tests apply the migrations themselves).
 */
export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  if (TEST_DB_KIND === 'pglite') {
    const handle = await openDatabase({ migrate: opts.migrate });
    return { handle, dispose: () => handle.close() };
  }
  const name = `skillport_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = withDatabase(ADMIN_URL, name);
  const handle = await openDatabase({ url, poolSize: 5, migrate: opts.migrate });
  return {
    handle,
    url,
    async dispose() {
      await handle.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
