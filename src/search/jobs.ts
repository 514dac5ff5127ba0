import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { desc, sql } from 'drizzle-orm';
import { tables, type Database } from '../db/index.js';
import { isUniqueViolation } from '../db/index.js';

export type JobRow = typeof tables.searchJobs.$inferSelect;

/** What a handler may report while it runs: progress for admins, and whether it still holds its lease. */
export interface JobContext {
  readonly job: JobRow;
  readonly signal: AbortSignal;
  /** Records progress (items done of items known) and extends the lease. */
  progress(done: number, total?: number): Promise<void>;
}

export type JobHandler = (ctx: JobContext) => Promise<void>;

export interface JobQueueOptions {
  /** How long a claimed job is this instance's; a job whose instance died is taken up again after it. */
  leaseMs?: number;
  /** How often an idle worker looks for due jobs (a local enqueue wakes it at once). */
  pollMs?: number;
  /** First retry delay; doubled per attempt, capped at an hour. */
  backoffMs?: number;
  /** A job failed (`job`), or looking for jobs did (no `job`: usually the database being away). */
  onError?: (err: unknown, job?: JobRow) => void;
}

const MAX_BACKOFF_MS = 60 * 60 * 1000;
const MAX_ERROR_CHARS = 500;
/** Finished jobs are kept this long for the admin view, then deleted. */
const KEEP_FINISHED = '7 days';
const CLEAN_UP_EVERY_MS = 60 * 60 * 1000;

/**
 * A durable job queue in the database. Jobs survive restarts (they are rows); a worker claims one with
 * `FOR UPDATE SKIP LOCKED` and a lease, so across any number of instances each job runs on one at a time, and
 * one whose instance died runs again once its lease ran out. Two jobs with the same `dedupe_key` never run at
 * once, and at most one waits: enqueueing again while one waits is a no-op, while one runs adds one to follow it.
 * A failed job is retried after `backoffMs · 2^(attempts-1)` until `max_attempts`, then kept as `failed`.
 */
export class JobQueue {
  /** `enqueued` (locally), `finished` (a job of this instance completed or failed for good). */
  readonly events = new EventEmitter<{ enqueued: []; finished: [JobRow] }>();
  readonly workerId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly backoffMs: number;
  private running: Promise<void> | null = null;
  private stopping = new AbortController();
  private wake: (() => void) | null = null;
  private lastCleanUp = 0;

  constructor(
    private readonly db: Database,
    private readonly opts: JobQueueOptions = {},
  ) {
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.pollMs = opts.pollMs ?? 2_000;
    this.backoffMs = opts.backoffMs ?? 5_000;
    this.events.setMaxListeners(0);
  }

  handle(kind: string, handler: JobHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Adds a job unless one with the same `dedupeKey` is already waiting. */
  async enqueue(kind: string, payload: Record<string, unknown> = {}, dedupeKey: string | null = kind) {
    await this.db.execute(sql`insert into search_jobs (kind, dedupe_key, payload)
      values (${kind}, ${dedupeKey}, ${JSON.stringify(payload)}::jsonb)
      on conflict (dedupe_key) where status = 'pending' do nothing`);
    this.events.emit('enqueued');
    this.wake?.();
  }

  /**
   * Claims one due job this instance has a handler for, or null. A running job whose lease ran out counts as
   * due (its instance died); a job waits while another with its dedupe key runs under a live lease.
   */
  async claim(): Promise<JobRow | null> {
    const kinds = [...this.handlers.keys()];
    if (!kinds.length) return null;
    const result = await this.db.execute(sql`
      update search_jobs set status = 'running', attempts = attempts + 1, locked_by = ${this.workerId},
        locked_until = now() + ${`${this.leaseMs} milliseconds`}::interval, updated_at = now()
      where id = (
        select j.id from search_jobs j
        where j.kind in (${sql.join(
          kinds.map((k) => sql`${k}`),
          sql`, `,
        )})
          and ((j.status = 'pending' and j.run_after <= now()) or (j.status = 'running' and j.locked_until < now()))
          and not exists (select 1 from search_jobs r where r.dedupe_key = j.dedupe_key and r.id <> j.id
                          and r.status = 'running' and r.locked_until >= now())
        order by j.run_after, j.id
        limit 1
        for update skip locked)
      returning *`);
    const row = rowsOf(result)[0];
    return row ? toJobRow(row) : null;
  }

  /** Claims and runs due jobs until none is left; returns how many ran. */
  async drain(): Promise<number> {
    let ran = 0;
    for (let job = await this.claim(); job; job = await this.claim()) {
      await this.run(job);
      ran++;
      if (this.stopping.signal.aborted) break;
    }
    return ran;
  }

  /** Starts the background worker (one job at a time per instance). */
  start(): void {
    if (this.running) return;
    this.stopping = new AbortController();
    this.running = this.loop();
  }

  /** Stops the worker after the job in hand; a job cut short runs again after its lease. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    await this.running;
    this.running = null;
  }

  /** Whether no job is waiting or running (the index has caught up with every change queued so far). */
  async idle(): Promise<boolean> {
    const result = await this.db.execute(
      sql`select 1 from search_jobs where status in ('pending', 'running') limit 1`,
    );
    return rowsOf(result).length === 0;
  }

  /** The most recent jobs, newest first, for the admin view. */
  async recent(limit = 20): Promise<JobRow[]> {
    return this.db.select().from(tables.searchJobs).orderBy(desc(tables.searchJobs.id)).limit(limit);
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        await this.drain();
        if (Date.now() - this.lastCleanUp > CLEAN_UP_EVERY_MS) {
          this.lastCleanUp = Date.now();
          await this.db.execute(sql`delete from search_jobs
            where status in ('done', 'failed') and updated_at < now() - ${KEEP_FINISHED}::interval`);
        }
      } catch (err) {
        // The database being away is the usual cause: try again at the next poll.
        this.opts.onError?.(err);
      }
      if (signal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private async run(job: JobRow): Promise<void> {
    const handler = this.handlers.get(job.kind)!;
    const ctx: JobContext = {
      job,
      signal: this.stopping.signal,
      progress: async (done, total) => {
        await this.db
          .execute(sql`update search_jobs set done = ${done}, total = coalesce(${total ?? null}, total),
            locked_until = now() + ${`${this.leaseMs} milliseconds`}::interval, updated_at = now()
          where id = ${job.id} and locked_by = ${this.workerId}`);
      },
    };
    try {
      await handler(ctx);
      await this.finish(job, sql`status = 'done', last_error = null`);
    } catch (err) {
      this.opts.onError?.(err, job);
      const message = (err instanceof Error ? err.message : String(err)).slice(0, MAX_ERROR_CHARS);
      const delay = Math.min(this.backoffMs * 2 ** (job.attempts - 1), MAX_BACKOFF_MS);
      await this.finish(
        job,
        job.attempts >= job.maxAttempts
          ? sql`status = 'failed', last_error = ${message}`
          : sql`status = 'pending', last_error = ${message},
                run_after = now() + ${`${delay} milliseconds`}::interval`,
      );
    }
  }

  /**
   * Ends this instance's hold on a job. Going back to `pending` may meet a waiting job with the same key (the
   * unique index allows one): then this one is dropped, the waiting one does the same work.
   */
  private async finish(job: JobRow, set: ReturnType<typeof sql>): Promise<void> {
    try {
      await this.db.execute(sql`update search_jobs set ${set}, locked_by = null, locked_until = null,
          updated_at = now() where id = ${job.id} and locked_by = ${this.workerId}`);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.db.execute(
        sql`delete from search_jobs where id = ${job.id} and locked_by = ${this.workerId}`,
      );
    }
    const [row] = await this.db
      .select()
      .from(tables.searchJobs)
      .where(sql`id = ${job.id}`);
    if (row && row.status !== 'pending') this.events.emit('finished', row);
  }
}

function rowsOf(result: unknown): Array<Record<string, unknown>> {
  return ((result as { rows?: unknown[] }).rows ?? (result as unknown[])) as Array<Record<string, unknown>>;
}

/** A raw `returning *` row in the drizzle row shape. */
function toJobRow(r: Record<string, unknown>): JobRow {
  const date = (v: unknown) => (v == null ? null : new Date(v as string));
  return {
    id: Number(r.id),
    kind: String(r.kind),
    dedupeKey: (r.dedupe_key as string | null) ?? null,
    payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>,
    status: String(r.status),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    runAfter: date(r.run_after)!,
    lockedBy: (r.locked_by as string | null) ?? null,
    lockedUntil: date(r.locked_until),
    lastError: (r.last_error as string | null) ?? null,
    done: Number(r.done),
    total: r.total == null ? null : Number(r.total),
    createdAt: date(r.created_at)!,
    updatedAt: date(r.updated_at)!,
  };
}
