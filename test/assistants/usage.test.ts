import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { tables } from '../../src/db/index.js';
import { UsageCounter } from '../../src/assistants/usage.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { until } from '../helpers/until.js';

let database: TestDatabase;
let userId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const [user] = await database.handle.db
    .insert(tables.users)
    .values({ email: 'u@example.com', username: 'usage', passwordHash: 'x' })
    .returning();
  userId = user!.id;
});
afterAll(async () => {
  await database?.dispose();
});

async function assistant(slug: string): Promise<string> {
  const [row] = await database.handle.db
    .insert(tables.assistants)
    .values({ ownerId: userId, slug, model: 'm' })
    .returning();
  return row!.id;
}

const usageOf = (assistantId: string) =>
  database.handle.db
    .select()
    .from(tables.assistantUsage)
    .where(eq(tables.assistantUsage.assistantId, assistantId))
    .orderBy(tables.assistantUsage.credential);

describe('usage counted in memory, written in batches', () => {
  it('adds up the turns per assistant and credential and writes one row each on top of what is stored', async () => {
    const errors: unknown[] = [];
    const counter = new UsageCounter(database.handle.db, (err) => errors.push(err));
    const id = await assistant('batched');
    for (let i = 0; i < 5; i++) counter.add(id, 'key-a', userId, { prompt: 10, completion: 2 });
    counter.add(id, 'key-b', userId, { prompt: 1, completion: 1 });
    expect(await usageOf(id)).toEqual([]); // nothing written per turn
    await counter.flush();
    counter.add(id, 'key-a', userId, { prompt: 3, completion: 0 });
    await counter.flush();
    const rows = await usageOf(id);
    expect(rows.map((r) => [r.credential, r.requests, r.promptTokens, r.completionTokens])).toEqual([
      ['key-a', 6, 53, 10],
      ['key-b', 1, 1, 1],
    ]);
    expect(errors).toEqual([]);
  });

  it('writes by itself within about a second', async () => {
    const counter = new UsageCounter(database.handle.db, () => undefined);
    const id = await assistant('timed');
    counter.add(id, 'key', userId, { prompt: 4, completion: 4 });
    const row = await until('the usage row', async () => (await usageOf(id))[0], 5_000);
    expect(row).toMatchObject({ requests: 1, promptTokens: 4, completionTokens: 4 });
  });

  it("drops the counts of an assistant deleted meanwhile and still writes the others'", async () => {
    const errors: unknown[] = [];
    const counter = new UsageCounter(database.handle.db, (err) => errors.push(err));
    const gone = await assistant('gone');
    const kept = await assistant('kept');
    counter.add(gone, 'key', userId, { prompt: 1, completion: 1 });
    counter.add(kept, 'key', userId, { prompt: 2, completion: 2 });
    await database.handle.db.delete(tables.assistants).where(eq(tables.assistants.id, gone));
    await counter.flush();
    expect(await usageOf(gone)).toEqual([]);
    expect((await usageOf(kept)).map((r) => r.promptTokens)).toEqual([2]);
    expect(errors).toEqual([]);
    await counter.flush(); // nothing left to retry
    expect((await usageOf(kept)).map((r) => r.promptTokens)).toEqual([2]);
  });
});
