import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { ApiTokens } from '../../src/accounts/api-tokens.js';
import { sha256Hex } from '../../src/shared/crypto.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * Migration 0003 on real PGlite and PostgreSQL: tokens made on the schema before it (the `scopes` column) keep
 * exactly the powers they had.
 */
const MIGRATIONS = path.resolve(import.meta.dirname, '../../migrations');
const BEFORE = '0002_blob_chunks';
let db: TestDatabase;
let before: string;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  // A copy of the migrations folder that ends just before 0003.
  before = mkdtempSync(path.join(tmpdir(), 'skillport-migrations-'));
  cpSync(MIGRATIONS, before, { recursive: true });
  const journalPath = path.join(before, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
  const last = journal.entries.findIndex((e: { tag: string }) => e.tag === BEFORE);
  expect(last).toBeGreaterThanOrEqual(0);
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(journalPath, JSON.stringify(journal));
  const migrate = db.handle.kind === 'pglite' ? migratePglite : migratePg;
  await migrate(db.handle.db as never, { migrationsFolder: before });
});
afterAll(async () => {
  await db?.dispose();
  if (before) rmSync(before, { recursive: true, force: true });
});

const key = (n: number) => `ask_live_${String(n).repeat(64)}`;
const rows = async (query: ReturnType<typeof sql>) =>
  ((await db.handle.db.execute(query)) as unknown as { rows: Record<string, unknown>[] }).rows;

describe('migration 0003_api_key_permissions', () => {
  it('maps mcp → can_use_mcp and api → can_manage with the admin powers an api token had', async () => {
    await db.handle.db.execute(sql`
      insert into users (id, email, username, password_hash, is_admin) values
        ('00000000-0000-4000-8000-000000000001', 'admin@example.com', 'admin', 'x', true),
        ('00000000-0000-4000-8000-000000000002', 'user@example.com', 'user', 'x', false)`);
    const old: [number, string, string][] = [
      [1, '00000000-0000-4000-8000-000000000001', '{mcp}'],
      [2, '00000000-0000-4000-8000-000000000001', '{api}'],
      [3, '00000000-0000-4000-8000-000000000002', '{api,mcp}'],
      [4, '00000000-0000-4000-8000-000000000002', '{mcp}'],
    ];
    for (const [n, user, scopes] of old) {
      await db.handle.db.execute(sql`
        insert into api_tokens (user_id, name, token_hash, prefix, scopes)
        values (${user}, ${`t${n}`}, ${sha256Hex(key(n))}, ${key(n).slice(0, 12)}, ${scopes}::text[])`);
    }
    await db.handle.migrate(); // applies 0003 (and anything after it)

    const migrated = await rows(sql`
      select name, can_use_mcp, can_manage, can_call_assistant, can_admin, assistant_ids, restriction, disabled_at
      from api_tokens order by name`);
    const expected = [
      { name: 't1', can_use_mcp: true, can_manage: false, can_admin: false },
      { name: 't2', can_use_mcp: false, can_manage: true, can_admin: true },
      { name: 't3', can_use_mcp: true, can_manage: true, can_admin: true },
      { name: 't4', can_use_mcp: true, can_manage: false, can_admin: false },
    ];
    expect(migrated).toEqual(
      expected.map((r) => ({
        ...r,
        can_call_assistant: false,
        assistant_ids: [],
        restriction: null,
        disabled_at: null,
      })),
    );
    const columns = await rows(
      sql`select column_name from information_schema.columns where table_name = 'api_tokens' and column_name = 'scopes'`,
    );
    expect(columns).toHaveLength(0);
  });

  it('the migrated tokens authenticate with the same powers as before', async () => {
    const tokens = new ApiTokens(db.handle.db);
    const principals = await Promise.all([1, 2, 3, 4].map((n) => tokens.authenticate(key(n))));
    expect(principals.map((p) => ({ scopes: [...p!.scopes].sort(), isAdmin: p!.isAdmin }))).toEqual([
      { scopes: ['mcp'], isAdmin: false },
      { scopes: ['api'], isAdmin: true }, // the admin's api token acted as admin before, and still does
      { scopes: ['api', 'mcp'], isAdmin: false }, // an ordinary user: can_admin gives nothing until promoted
      { scopes: ['mcp'], isAdmin: false },
    ]);
    await tokens.idle();
  });
});
