import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/index.js';
import { rowsOf } from '../skills/index.js';

/**
 * A logical copy of the database: every table of the application's schema as newline-delimited JSON produced by
 * PostgreSQL itself (`row_to_json`, so timestamps keep their microseconds and jsonb/tsvector/uuid their exact
 * text), read back with `json_populate_recordset`. The same format on PGlite and PostgreSQL, so a backup of one
 * restores into the other. Blob bytes are not in `blobs.ndjson`: each is a member of its own (see index.ts).
 */

const FETCH = 500;
const INSERT_BATCH = 200;
export const BLOBS_TABLE = 'blobs';
/** The rest of each blob's bytes (see DatabaseBlobStore): in the archive as the blob's own member, not as rows. */
const BLOB_CHUNKS_TABLE = 'blob_chunks';

/** The application's tables, parents before children (foreign keys), the migrations journal excluded. */
export async function listTables(exec: Executor): Promise<string[]> {
  const tables = rowsOf<{ name: string }>(
    await exec.execute(sql`select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition order by 1`),
  )
    .map((r) => r.name)
    .filter((name) => name !== BLOB_CHUNKS_TABLE);
  const edges = rowsOf<{ child: string; parent: string }>(
    await exec.execute(sql`select cc.relname as child, pc.relname as parent from pg_constraint k
        join pg_class cc on cc.oid = k.conrelid join pg_class pc on pc.oid = k.confrelid
        join pg_namespace n on n.oid = cc.relnamespace
        where k.contype = 'f' and n.nspname = current_schema() and k.conrelid <> k.confrelid`),
  );
  const ordered: string[] = [];
  const pending = new Set(tables);
  while (pending.size) {
    const ready = [...pending].filter((t) => !edges.some((e) => e.child === t && pending.has(e.parent)));
    if (!ready.length) throw new Error(`Foreign keys form a cycle among: ${[...pending].join(', ')}`);
    for (const t of ready) {
      ordered.push(t);
      pending.delete(t);
    }
  }
  return ordered;
}

/** The last migration applied to this database (drizzle's journal), to match a backup with a schema. */
export async function schemaMigration(exec: Executor): Promise<{ tag: string; createdAt: number }> {
  const [row] = rowsOf<{ created_at: string }>(
    await exec.execute(
      sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
    ),
  );
  if (!row) throw new Error('The database has no migrations applied');
  const createdAt = Number(row.created_at);
  const journal = JSON.parse(readFileSync(JOURNAL, 'utf8')) as {
    entries: Array<{ tag: string; when: number }>;
  };
  const tag = journal.entries.find((e) => e.when === createdAt)?.tag ?? `unknown-${createdAt}`;
  return { tag, createdAt };
}
const JOURNAL = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../migrations/meta/_journal.json',
);

/** Rows of one table as JSON lines, read through a cursor (bounded memory) inside the caller's transaction. */
export async function* tableLines(exec: Executor, table: string): AsyncGenerator<string> {
  const cursor = `backup_${table}`;
  // Blob bytes are stored as members of their own; this row keeps only the index fields.
  const source =
    table === BLOBS_TABLE
      ? sql.raw(`(select sha256, size, created_at, updated_at from "blobs" order by sha256) t`)
      : sql.raw(`"${table}" t`);
  await exec.execute(
    sql`declare ${sql.raw(`"${cursor}"`)} no scroll cursor for select row_to_json(t)::text as j from ${source}`,
  );
  try {
    for (;;) {
      const rows = rowsOf<{ j: string }>(await exec.execute(sql.raw(`fetch ${FETCH} from "${cursor}"`)));
      for (const r of rows) yield r.j;
      if (rows.length < FETCH) return;
    }
  } finally {
    await exec.execute(sql.raw(`close "${cursor}"`));
  }
}

/** Inserts JSON rows of one table (identity values kept as they were). */
export async function insertLines(
  exec: Executor,
  table: string,
  source: AsyncIterable<string>,
): Promise<number> {
  let batch: string[] = [];
  let count = 0;
  const flush = async () => {
    if (!batch.length) return;
    await exec.execute(
      sql`insert into ${sql.raw(`"${table}"`)} overriding system value
          select * from json_populate_recordset(null::${sql.raw(`"${table}"`)}, ${`[${batch.join(',')}]`}::json)`,
    );
    count += batch.length;
    batch = [];
  };
  for await (const line of source) {
    batch.push(line);
    if (batch.length >= INSERT_BATCH) await flush();
  }
  await flush();
  return count;
}

/** Inserts one blob row from its JSON line with the given bytes (empty when they live in object storage). */
export async function insertBlob(exec: Executor, line: string, data: Buffer): Promise<void> {
  await exec.execute(
    sql`insert into blobs (sha256, size, data, created_at, updated_at)
        select r.sha256, r.size, ${data}::bytea, r.created_at, r.updated_at from json_populate_record(null::blobs, ${line}::json) r`,
  );
}

/** Identity and serial counters continue after the restored rows. */
export async function resetSequences(exec: Executor): Promise<void> {
  const columns = rowsOf<{ table_name: string; column_name: string }>(
    await exec.execute(sql`select table_name, column_name from information_schema.columns
        where table_schema = current_schema() and (is_identity = 'YES' or column_default like 'nextval(%')`),
  );
  for (const c of columns) {
    const table = `"${c.table_name}"`;
    const column = `"${c.column_name}"`;
    await exec.execute(
      sql.raw(`select setval(pg_get_serial_sequence('${table}', '${c.column_name}'),
          coalesce((select max(${column}) from ${table}), 1), (select max(${column}) from ${table}) is not null)`),
    );
  }
}

/** Tables that hold at least one row. */
export async function nonEmptyTables(exec: Executor, tables: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    const rows = rowsOf<unknown>(await exec.execute(sql.raw(`select 1 from "${t}" limit 1`)));
    if (rows.length) out.push(t);
  }
  return out;
}

export async function truncateAll(exec: Executor, tables: string[]): Promise<void> {
  if (!tables.length) return;
  await exec.execute(
    sql.raw(`truncate table ${tables.map((t) => `"${t}"`).join(', ')} restart identity cascade`),
  );
}
