/**
 * The search indexer's durable job queue on a real database: jobs survive a restart of the process (a PGlite
 * data dir reopened, or a new PostgreSQL pool), a job whose instance died runs again once its lease ran out,
 * two instances draining together run every job exactly once, failures come back after a growing delay and end
 * as `failed`, and a purpose has at most one waiting job.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, tables, type DatabaseHandle } from '../../src/db/index.js';
import { JobQueue, type JobRow } from '../../src/search/index.js';
import { until } from '../helpers/until.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A database that can be "restarted": a PGlite data dir reopened, or a new pool on the same PostgreSQL database. */
async function restartableDatabase(): Promise<{ open(): Promise<DatabaseHandle> }> {
  if (TEST_DB_KIND === 'postgres') {
    const db: TestDatabase = await createTestDatabase();
    await db.handle.close();
    cleanups.push(() => db.dispose().catch(() => undefined));
    return { open: () => openDatabase({ url: db.url!, poolSize: 3 }) };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'skillport-jobs-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return { open: () => openDatabase({ embeddedDir: path.join(dir, 'db') }) };
}

const jobsOf = async (handle: DatabaseHandle) =>
  handle.db.select().from(tables.searchJobs).orderBy(tables.searchJobs.id);

describe('durability', () => {
  it('keeps a queued job across a restart and runs it on the next start', async () => {
    const database = await restartableDatabase();
    const first = await database.open();
    await new JobQueue(first.db).enqueue('test.index', { item: 7 });
    await first.close();

    const second = await database.open();
    cleanups.push(() => second.close());
    const ran: unknown[] = [];
    const queue = new JobQueue(second.db);
    queue.handle('test.index', async ({ job }) => void ran.push(job.payload));
    expect(await queue.drain()).toBe(1);
    expect(ran).toEqual([{ item: 7 }]);
    expect((await jobsOf(second)).map((j) => j.status)).toEqual(['done']);
  });

  it('runs again, elsewhere, a job whose instance died while running it, once its lease ran out', async () => {
    const database = await restartableDatabase();
    const first = await database.open();
    const dying = new JobQueue(first.db, { leaseMs: 300 });
    dying.handle('test.index', async () => undefined);
    await dying.enqueue('test.index', { item: 1 });
    const claimed = await dying.claim();
    expect(claimed).toMatchObject({ status: 'running', attempts: 1, lockedBy: dying.workerId });
    const other = new JobQueue(first.db);
    other.handle('test.index', async () => undefined);
    expect(await other.claim()).toBeNull(); // another instance leaves it alone while the lease holds
    await first.close(); // the instance dies holding the job

    const second = await database.open();
    cleanups.push(() => second.close());
    const survivor = new JobQueue(second.db);
    const ran: JobRow[] = [];
    survivor.handle('test.index', async ({ job }) => void ran.push(job));
    await until('the lease to run out', async () => (await survivor.drain()) > 0);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toMatchObject({ id: claimed!.id, attempts: 2, lockedBy: survivor.workerId });
    expect((await jobsOf(second))[0]).toMatchObject({ status: 'done', lockedBy: null });
  });
});

describe('several instances', () => {
  it('runs every job exactly once when two instances drain the queue at the same time', async () => {
    const database = await restartableDatabase();
    const a = await database.open();
    cleanups.push(() => a.close());
    // PostgreSQL: a second pool, as a second instance has. PGlite has one owner: two workers in one process.
    const b = TEST_DB_KIND === 'postgres' ? await database.open() : a;
    if (b !== a) cleanups.push(() => b.close());
    const runs = new Map<number, string[]>();
    const queues = [new JobQueue(a.db), new JobQueue(b.db)];
    for (const q of queues) {
      q.handle('test.index', async ({ job }) => {
        runs.set(job.id, [...(runs.get(job.id) ?? []), q.workerId]);
        await a.db.execute(sql`select pg_sleep(0.002)`);
      });
    }
    for (let i = 0; i < 30; i++) await queues[0]!.enqueue('test.index', { i }, `item:${i}`);
    const [ranA, ranB] = await Promise.all(queues.map((q) => q.drain()));
    expect(ranA! + ranB!).toBe(30);
    expect(runs.size).toBe(30);
    expect([...runs.values()].every((workers) => workers.length === 1)).toBe(true);
    if (TEST_DB_KIND === 'postgres') expect(Math.min(ranA!, ranB!)).toBeGreaterThan(0);
    expect((await jobsOf(a)).every((j) => j.status === 'done')).toBe(true);
  });

  it('keeps one waiting job per purpose, and never runs two of the same purpose at once', async () => {
    const database = await restartableDatabase();
    const handle = await database.open();
    cleanups.push(() => handle.close());
    const queue = new JobQueue(handle.db);
    queue.handle('test.sync', async () => undefined);
    await queue.enqueue('test.sync');
    await queue.enqueue('test.sync');
    expect(await jobsOf(handle)).toHaveLength(1);
    const running = await queue.claim();
    await queue.enqueue('test.sync'); // a change while it runs: one more pass must follow
    expect((await jobsOf(handle)).map((j) => j.status)).toEqual(['running', 'pending']);
    expect(await queue.claim()).toBeNull(); // not while the first holds its lease
    expect(running).not.toBeNull();
  });
});

describe('failures', () => {
  it('retries a failed job after a growing delay, then succeeds; gives up after max_attempts', async () => {
    const database = await restartableDatabase();
    const handle = await database.open();
    cleanups.push(() => handle.close());
    const queue = new JobQueue(handle.db, { backoffMs: 200 });
    let calls = 0;
    queue.handle('test.flaky', async () => {
      calls++;
      if (calls < 3) throw new Error(`endpoint down (${calls})`);
    });
    await queue.enqueue('test.flaky');
    expect(await queue.drain()).toBe(1);
    const [afterOne] = await jobsOf(handle);
    expect(afterOne).toMatchObject({ status: 'pending', attempts: 1, lastError: 'endpoint down (1)' });
    const firstDelay = afterOne!.runAfter.getTime() - afterOne!.updatedAt.getTime();
    expect(firstDelay).toBeGreaterThanOrEqual(190);
    expect(await queue.drain()).toBe(0); // not due yet
    await until('the first retry', async () => (await queue.drain()) > 0);
    const [afterTwo] = await jobsOf(handle);
    expect(afterTwo!.runAfter.getTime() - afterTwo!.updatedAt.getTime()).toBeGreaterThanOrEqual(390);
    await until('the second retry', async () => (await queue.drain()) > 0);
    expect((await jobsOf(handle))[0]).toMatchObject({ status: 'done', attempts: 3, lastError: null });

    queue.handle('test.broken', async () => {
      throw new Error('always broken');
    });
    await queue.enqueue('test.broken');
    await handle.db.execute(sql`update search_jobs set max_attempts = 1 where kind = 'test.broken'`);
    const finished = new Promise<JobRow>((resolve) => queue.events.once('finished', resolve));
    await queue.drain();
    expect(await finished).toMatchObject({
      kind: 'test.broken',
      status: 'failed',
      lastError: 'always broken',
    });
  });
});
