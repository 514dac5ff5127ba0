import { sql } from 'drizzle-orm';
import { tables, type DatabaseHandle } from '../db/index.js';
import type { Logger } from '../observability/index.js';
import type { SearchSource } from './documents.js';
import type { Embedder } from './embeddings.js';
import { SearchIndexer } from './indexer.js';
import { JobQueue, type JobQueueOptions } from './jobs.js';
import { enablePgvector } from './pgvector.js';
import { SearchService } from './service.js';

export interface SearchRoom {
  service: SearchService;
  indexer: SearchIndexer;
  queue: JobQueue;
  /** For admins: what search runs on and how far indexing is. */
  status(): Promise<{
    mode: 'hybrid' | 'full_text';
    embedding_model: string | null;
    vector_path: 'pgvector' | 'portable' | 'none';
    documents: number;
    embedded: number;
    jobs: Array<{
      id: number;
      kind: string;
      status: 'pending' | 'running' | 'done' | 'failed';
      attempts: number;
      done: number;
      total: number | null;
      last_error: string | null;
      run_after: string;
      updated_at: string;
    }>;
  }>;
  close(): Promise<void>;
}

export interface SearchRoomOptions {
  db: DatabaseHandle;
  sources: SearchSource[];
  embedder: Embedder | null;
  logger: Logger;
  queue?: JobQueueOptions;
  /** Start the background worker (tests drive the queue themselves when false). */
  worker?: boolean;
}

/** Builds search: detects pgvector, wires the indexer to its sources and starts the job worker. */
export async function openSearch(opts: SearchRoomOptions): Promise<SearchRoom> {
  const { db, embedder, logger } = opts;
  const accelerated = embedder ? await enablePgvector(db.db, db.kind) : false;
  const queue = new JobQueue(db.db, {
    onError: (err, job) =>
      logger.warn(
        { err: err instanceof Error ? err.message : String(err), job: job?.kind, attempt: job?.attempts },
        job ? 'search indexing job failed; retrying with backoff' : 'search job queue: cannot read jobs',
      ),
    ...opts.queue,
  });
  const service = new SearchService(db.db, embedder, accelerated, (err) =>
    logger.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'embeddings unavailable for a query; answered with full-text search',
    ),
  );
  const indexer = new SearchIndexer(db.db, queue, opts.sources, embedder, accelerated, () =>
    service.invalidate(),
  );
  await indexer.start();
  if (opts.worker !== false) queue.start();
  return {
    service,
    indexer,
    queue,
    async status() {
      const d = tables.searchDocuments;
      const [counts] = (await db.db
        .select({
          documents: sql<number>`count(*)::int`,
          embedded: embedder
            ? sql<number>`(count(*) filter (where ${d.embeddingModel} = ${embedder.model}))::int`
            : sql<number>`0`,
        })
        .from(d)) as [{ documents: number; embedded: number }];
      const jobs = await queue.recent();
      return {
        mode: service.mode,
        embedding_model: embedder?.model ?? null,
        vector_path: service.vectorPath,
        documents: Number(counts.documents),
        embedded: Number(counts.embedded),
        jobs: jobs.map((j) => ({
          id: j.id,
          kind: j.kind,
          status: j.status as 'pending',
          attempts: j.attempts,
          done: j.done,
          total: j.total,
          last_error: j.lastError,
          run_after: j.runAfter.toISOString(),
          updated_at: j.updatedAt.toISOString(),
        })),
      };
    },
    async close() {
      indexer.stop();
      await queue.stop();
    },
  };
}
