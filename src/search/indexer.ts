import { and, eq, isNotNull, sql } from 'drizzle-orm';
import { recordAudit } from '../audit/index.js';
import { tables, type Database } from '../db/index.js';
import type { Principal } from '../shared/principal.js';
import { removeDocuments, upsertDocuments, type SearchSource } from './documents.js';
import type { Embedder } from './embeddings.js';
import type { JobContext, JobQueue } from './jobs.js';
import { writeAcceleratedVector } from './pgvector.js';
import { decodeVector, encodeVector } from './vectors.js';

const SYNC_BATCH = 100;
const EMBED_BATCH = 64;

export const SYNC_JOB = 'search.sync';
export const EMBED_JOB = 'search.embed';

/**
 * Keeps `search_documents` in step with its sources, through the durable job queue: a source's change enqueues
 * one `search.sync` job for it (deduplicated), which writes the missing and changed documents and removes the
 * gone ones, then enqueues `search.embed`, which embeds every document without a vector of the current model.
 * A new embedding model is therefore a re-index by itself: at start the embed job finds every document stale.
 */
export class SearchIndexer {
  private readonly unsubscribe: Array<() => void> = [];
  /** Jobs being queued for changes just reported (the insert is in flight). */
  private readonly queueing = new Set<Promise<unknown>>();

  constructor(
    private readonly db: Database,
    private readonly queue: JobQueue,
    private readonly sources: readonly SearchSource[],
    private readonly embedder: Embedder | null,
    private readonly accelerated: boolean,
    /** Called after documents or vectors were written, and when a source reports a change. */
    private readonly changed: () => void = () => undefined,
  ) {
    queue.handle(SYNC_JOB, (ctx) => this.sync(ctx));
    if (embedder) queue.handle(EMBED_JOB, (ctx) => this.embed(ctx));
  }

  /**
   * Subscribes to the sources and queues what is behind: a sync for each source with missing, changed or gone
   * documents, and the embed job when documents lack a vector of the current model (after a model change: all).
   * An index that is current queues nothing, so a start writes nothing (a restored backup stays as it was).
   */
  async start(): Promise<void> {
    for (const source of this.sources) {
      this.unsubscribe.push(
        source.onChange(() => {
          this.changed();
          const queued = this.requestSync(source.kind).catch(() => undefined);
          this.queueing.add(queued);
          void queued.finally(() => this.queueing.delete(queued));
        }),
      );
      const behind =
        (await source.outdated(this.db, 1)).length > 0 || (await source.removed(this.db, 1)).length > 0;
      if (behind) await this.requestSync(source.kind);
    }
    if (this.embedder && (await this.staleCount()) > 0) await this.queue.enqueue(EMBED_JOB);
  }

  /** Documents without a vector of the current model. */
  private async staleCount(): Promise<number> {
    const d = tables.searchDocuments;
    const [{ total }] = (await this.db
      .select({ total: sql<number>`count(*)::int` })
      .from(d)
      .where(sql`${d.embeddingModel} is distinct from ${this.embedder!.model}`)) as [{ total: number }];
    return Number(total);
  }

  /** Whether every change reported so far is indexed: nothing being queued, waiting or running. */
  async idle(): Promise<boolean> {
    await Promise.all(this.queueing);
    return this.queue.idle();
  }

  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /**
   * Queues a re-index of everything (every document is written and embedded again), on an administrator's
   * request, recorded in the audit log in the same transaction.
   */
  async reindex(actor: Principal, ip: string | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.update(tables.searchDocuments).set({ contentHash: '', embedding: null, embeddingModel: null });
      await recordAudit(tx, { actorId: actor.userId, action: 'search.reindex', result: 'success', ip });
    });
    this.changed();
    for (const source of this.sources) await this.requestSync(source.kind);
  }

  requestSync(kind: string): Promise<void> {
    return this.queue.enqueue(SYNC_JOB, { source: kind }, `${SYNC_JOB}:${kind}`);
  }

  private async sync(ctx: JobContext): Promise<void> {
    const source = this.sources.find((s) => s.kind === ctx.job.payload.source);
    if (!source) return;
    let done = 0;
    for (;;) {
      const removed = await source.removed(this.db, SYNC_BATCH);
      await removeDocuments(this.db, source.kind, removed);
      const docs = await source.outdated(this.db, SYNC_BATCH);
      await upsertDocuments(this.db, docs);
      if (docs.length || removed.length) this.changed();
      done += docs.length + removed.length;
      await ctx.progress(done);
      if (docs.length < SYNC_BATCH && removed.length < SYNC_BATCH) break;
      if (ctx.signal.aborted) throw new Error('stopped before the end; the job runs again');
    }
    if (this.embedder) await this.queue.enqueue(EMBED_JOB);
  }

  private async embed(ctx: JobContext): Promise<void> {
    const embedder = this.embedder!;
    const d = tables.searchDocuments;
    const stale = sql`${d.embeddingModel} is distinct from ${embedder.model}`;
    const total = await this.staleCount();
    let done = 0;
    await ctx.progress(0, total);
    for (;;) {
      const batch = await this.db
        .select({ id: d.id, text: d.embedText, hash: d.contentHash })
        .from(d)
        .where(stale)
        .orderBy(d.id)
        .limit(EMBED_BATCH);
      if (!batch.length) break;
      const vectors = await embedder.embed(
        batch.map((b) => b.text),
        ctx.signal,
      );
      await this.db.transaction(async (tx) => {
        for (const [i, doc] of batch.entries()) {
          // Only if the text is still the one embedded: a change meanwhile cleared it for the next pass.
          const written = await tx
            .update(d)
            .set({
              embedding: encodeVector(vectors[i]!),
              embeddingModel: embedder.model,
              updatedAt: new Date(),
            })
            .where(and(eq(d.id, doc.id), eq(d.contentHash, doc.hash)))
            .returning({ id: d.id });
          if (written.length && this.accelerated)
            await writeAcceleratedVector(tx, doc.id, embedder.model, vectors[i]!);
        }
      });
      this.changed();
      done += batch.length;
      await ctx.progress(done, Math.max(total, done));
      if (ctx.signal.aborted) throw new Error('stopped before the end; the job runs again');
    }
    if (this.accelerated) await this.fillAccelerator(embedder.model);
  }

  /** Mirrors embedded documents the accelerator lacks (after a restore, or pgvector newly installed). */
  private async fillAccelerator(model: string): Promise<void> {
    const d = tables.searchDocuments;
    for (;;) {
      const rows = await this.db
        .select({ id: d.id, embedding: d.embedding })
        .from(d)
        .where(
          and(
            eq(d.embeddingModel, model),
            isNotNull(d.embedding),
            sql`not exists (select 1 from search_accel.vectors v where v.document_id = ${d.id} and v.model = ${model})`,
          ),
        )
        .limit(EMBED_BATCH * 8);
      if (!rows.length) return;
      for (const r of rows) await writeAcceleratedVector(this.db, r.id, model, decodeVector(r.embedding!));
    }
  }
}
