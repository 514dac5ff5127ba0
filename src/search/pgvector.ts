import { sql } from 'drizzle-orm';
import type { Database, Executor } from '../db/index.js';
import { vectorLiteral } from './vectors.js';

/**
 * pgvector as an optional accelerator: where `CREATE EXTENSION vector` works (always on PGlite, on a PostgreSQL
 * that has the extension), vectors are mirrored into `search_accel.vectors` and ranked in SQL. The table is a
 * cache derived from `search_documents.embedding` (bytea, the portable copy): it lives in its own schema, made
 * at run time because its type needs the extension, so backups (the application schema only) never carry it
 * and a restore into a server without pgvector works; missing rows are filled from the bytea copy.
 *
 * The scan is exact (no HNSW): per-caller filters are selective, and a filtered HNSW scan can return fewer than
 * k rows (pitfall P15), which would be a short page.
 */
export async function enablePgvector(db: Database, kind: 'pglite' | 'postgres'): Promise<boolean> {
  try {
    if (kind === 'postgres') {
      const available = await db.execute(sql`select 1 from pg_available_extensions where name = 'vector'`);
      if (!((available as { rows?: unknown[] }).rows ?? (available as unknown[])).length) return false;
    }
    await db.execute(sql`create extension if not exists vector`);
    await db.execute(sql`create schema if not exists search_accel`);
    await db.execute(sql`create table if not exists search_accel.vectors (
      document_id uuid primary key references search_documents(id) on delete cascade,
      model text not null,
      vec vector not null)`);
    return true;
  } catch {
    // No privilege to create the extension, or a broken install: the portable path serves.
    return false;
  }
}

export async function writeAcceleratedVector(
  db: Executor,
  documentId: string,
  model: string,
  vec: Float32Array,
): Promise<void> {
  await db.execute(sql`insert into search_accel.vectors (document_id, model, vec)
    values (${documentId}, ${model}, ${vectorLiteral(vec)}::vector)
    on conflict (document_id) do update set model = excluded.model, vec = excluded.vec`);
}
