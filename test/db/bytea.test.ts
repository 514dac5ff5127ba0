/**
 * bytea values go to the database as bytes (PGlite: a binary Bind parameter, see db/index.ts) and come back
 * unchanged: every byte value, Buffers that are views into a larger pool (non-zero byteOffset), plain Uint8Array
 * views, empty values, and a multi-MiB value, through drizzle on both databases.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ migrate: false });
});
afterAll(async () => {
  await t.dispose();
});

async function roundTrip(value: Uint8Array): Promise<Buffer> {
  const rows = await t.handle.db.execute<{ b: Buffer; n: number }>(
    sql`select ${value}::bytea as b, octet_length(${value}::bytea) as n`,
  );
  const row =
    (rows as unknown as { rows?: Array<{ b: Buffer; n: number }> }).rows?.[0] ??
    (rows as unknown as Array<{ b: Buffer; n: number }>)[0]!;
  expect(Number(row.n)).toBe(value.byteLength);
  return Buffer.from(row.b);
}

describe('bytea parameters', () => {
  it('keep every byte value, including NUL and bytes that are not UTF-8', async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect((await roundTrip(all)).equals(all)).toBe(true);
  });

  it('send only the view of a Buffer or Uint8Array, not the memory around it', async () => {
    const pooled = Buffer.from('hello bytes'); // small Buffers are views into a shared pool
    expect(pooled.byteOffset + pooled.length).toBeLessThanOrEqual(pooled.buffer.byteLength);
    expect((await roundTrip(pooled)).toString()).toBe('hello bytes');
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9, 9]);
    expect([...(await roundTrip(backing.subarray(2, 5)))]).toEqual([1, 2, 3]);
    expect((await roundTrip(Buffer.alloc(0))).length).toBe(0);
  });

  it('carry a large value intact', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 7);
    expect((await roundTrip(big)).equals(big)).toBe(true);
  });
});
