/**
 * The server loads pgvector into its embedded database only when embeddings are configured: with them, search
 * runs on the pgvector path; without them the extension is not there to create (issue 11's start-up time).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createContext } from '../../src/server/context.js';
import { TEST_DB_KIND } from '../helpers/db.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'skillport-pgvector-config-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const quiet = new Writable({ write: (_chunk, _enc, cb) => cb() });
const configWith = (env: Record<string, string>) =>
  loadConfig({ PORT: '0', DATA_DIR: dataDir, SECRET_KEY: randomBytes(32).toString('hex'), ...env });

describe.skipIf(TEST_DB_KIND !== 'pglite')('pgvector on the embedded database, by configuration', () => {
  it('is loaded with embeddings configured and left out without them', async () => {
    let ctx = await createContext(configWith({}), { logDestination: quiet });
    try {
      expect(ctx.search.service.vectorPath).toBe('none');
      await expect(ctx.db.db.execute(sql`create extension if not exists vector`)).rejects.toThrow();
    } finally {
      await ctx.close();
    }
    // Nothing listens there: no document needs embedding in an empty database.
    const embeddings = { EMBEDDINGS_BASE_URL: 'http://127.0.0.1:9/v1', EMBEDDINGS_MODEL: 'm' };
    ctx = await createContext(configWith(embeddings), { logDestination: quiet });
    try {
      expect(ctx.search.service.vectorPath).toBe('pgvector');
    } finally {
      await ctx.close();
    }
  }, 120_000);
});
