/**
 * PGlite loads pgvector only when asked (`vectors`, which the server sets when embeddings are configured): a data
 * dir where search created the extension and its cache table still opens without it, and deleting a search
 * document still cascades into that table; with the extension loaded again its vectors read as before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.js';
import { enablePgvector, writeAcceleratedVector } from '../../src/search/pgvector.js';
import { TEST_DB_KIND } from '../helpers/db.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skillport-pgvector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function query<T>(h: DatabaseHandle, q: ReturnType<typeof sql>): Promise<T[]> {
  const r = (await h.db.execute(q)) as unknown as { rows: T[] };
  return r.rows;
}

async function addDocument(h: DatabaseHandle, key: string): Promise<string> {
  const [doc] = await query<{ id: string }>(
    h,
    sql`insert into search_documents (kind, source_key, name, description, content_hash, embed_text)
      values ('skill', ${key}, ${key}, 'd', 'h', 't') returning id`,
  );
  return doc!.id;
}

describe.skipIf(TEST_DB_KIND !== 'pglite')('pgvector on the embedded database', () => {
  it('is left out on request, and a data dir that has it still opens and deletes', async () => {
    let h = await openDatabase({ embeddedDir: dir });
    expect(await enablePgvector(h.db, 'pglite')).toBe(true);
    const kept = await addDocument(h, 'kept');
    const gone = await addDocument(h, 'gone');
    await writeAcceleratedVector(h.db, kept, 'm', new Float32Array([1, 0, 0]));
    await writeAcceleratedVector(h.db, gone, 'm', new Float32Array([0, 1, 0]));
    await h.close();

    h = await openDatabase({ embeddedDir: dir, vectors: false });
    try {
      // Not loaded: reading a vector needs the extension's code.
      await expect(h.db.execute(sql`select vec from search_accel.vectors`)).rejects.toThrow();
      await h.db.execute(sql`delete from search_documents where id = ${gone}`);
      expect(await query(h, sql`select document_id from search_accel.vectors`)).toEqual([
        { document_id: kept },
      ]);
    } finally {
      await h.close();
    }

    h = await openDatabase({ embeddedDir: dir });
    try {
      expect(await query(h, sql`select vec::text as v from search_accel.vectors`)).toEqual([
        { v: '[1,0,0]' },
      ]);
    } finally {
      await h.close();
    }
  }, 120_000);
});
