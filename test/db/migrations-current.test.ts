/**
 * Opening the embedded database skips the migrator when one query shows every migration applied (issue 11's start
 * time), and only then: a data dir left at an older schema is still brought up to date when it opens.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationsCurrent, MIGRATIONS_DIR } from '../../src/db/handle.js';
import { openDatabase } from '../../src/db/index.js';
import { TEST_DB_KIND } from '../helpers/db.js';

const work = mkdtempSync(path.join(tmpdir(), 'skillport-migrations-current-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A copy of migrations/ whose journal ends with `lastTag`. */
function migrationsUpTo(lastTag: string): string {
  const dir = path.join(work, 'migrations');
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  const journalPath = path.join(dir, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
  journal.entries = journal.entries.slice(
    0,
    journal.entries.findIndex((e: { tag: string }) => e.tag === lastTag) + 1,
  );
  expect(journal.entries.at(-1).tag).toBe(lastTag);
  writeFileSync(journalPath, JSON.stringify(journal));
  return dir;
}

const tableExists = async (db: Awaited<ReturnType<typeof openDatabase>>['db'], name: string) =>
  (
    (await db.execute(sql`select to_regclass(${name}) is not null as ok`)) as unknown as {
      rows: [{ ok: boolean }];
    }
  ).rows[0].ok;

describe.skipIf(TEST_DB_KIND !== 'pglite')('the migration check on open', () => {
  it('is false on a new database, false behind the journal, true once everything is applied', async () => {
    const dataDir = path.join(work, 'db');
    let h = await openDatabase({ embeddedDir: dataDir, migrate: false, vectors: false });
    try {
      expect(await migrationsCurrent(h.db)).toBe(false);
      await migrate(h.db as never, { migrationsFolder: migrationsUpTo('0006_search') });
      expect(await tableExists(h.db, 'search_documents')).toBe(true);
      expect(await tableExists(h.db, 'mcp_servers')).toBe(false);
      expect(await migrationsCurrent(h.db)).toBe(false);
    } finally {
      await h.close();
    }

    // Opening applies what the journal has beyond the data dir's schema.
    h = await openDatabase({ embeddedDir: dataDir, vectors: false });
    try {
      expect(await tableExists(h.db, 'mcp_servers')).toBe(true);
      expect(await migrationsCurrent(h.db)).toBe(true);
    } finally {
      await h.close();
    }
  }, 120_000);
});
