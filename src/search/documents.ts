import { and, eq, sql, type SQL } from 'drizzle-orm';
import { tables, type Executor } from '../db/index.js';

export type DocumentKind = 'skill' | 'tool';

/** One document as a source describes it; the indexer stores it and embeds `embedText`. */
export interface SearchDocumentInput {
  kind: DocumentKind;
  /** Unique within the kind: the source finds its document again by it. */
  sourceKey: string;
  /** Skill documents: the skill (its visibility rule decides who finds it). */
  skillId?: string;
  /** Tool documents: the user whose tool list holds the tool (null: everybody's). */
  ownerId?: string | null;
  /** The ready-to-call name. */
  name: string;
  description: string;
  /** Weighted text for the full-text index of sources without their own (tools): A, B and C parts. */
  fullText?: { a: string; b: string; c: string };
  /** Changes whenever the document's text does. */
  contentHash: string;
  embedText: string;
}

/** Embedded text is capped: embedding models read a few hundred tokens, and requests stay small. */
export const MAX_EMBED_CHARS = 4_000;

/**
 * A source of documents: the skill library now, upstream tools as one more source once they exist. The indexer
 * asks a source for the documents that are missing or out of date and for the keys of documents it no longer
 * has, in batches, whenever the source reports a change (and once at start).
 */
export interface SearchSource {
  readonly kind: DocumentKind;
  /** Up to `limit` documents whose stored copy is missing or has another content hash. */
  outdated(db: Executor, limit: number): Promise<SearchDocumentInput[]>;
  /** Up to `limit` source keys of stored documents the source no longer has. */
  removed(db: Executor, limit: number): Promise<string[]>;
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

const fullTextOf = (t: { a: string; b: string; c: string }): SQL =>
  sql`setweight(to_tsvector('simple', ${t.a}), 'A') || setweight(to_tsvector('english', ${t.b}), 'B')
    || setweight(to_tsvector('english', ${t.c}), 'C')`;

/**
 * Writes documents. A changed document loses its embedding in the same statement, so a vector never
 * describes text the document no longer has; the embedding job then embeds it again.
 */
export async function upsertDocuments(db: Executor, docs: SearchDocumentInput[]): Promise<void> {
  const d = tables.searchDocuments;
  for (const doc of docs) {
    const values = {
      kind: doc.kind,
      sourceKey: doc.sourceKey,
      skillId: doc.skillId ?? null,
      ownerId: doc.ownerId ?? null,
      name: doc.name,
      description: doc.description,
      contentHash: doc.contentHash,
      tsv: doc.fullText ? fullTextOf(doc.fullText) : null,
      embedText: doc.embedText.slice(0, MAX_EMBED_CHARS),
    };
    await db
      .insert(d)
      .values(values as typeof d.$inferInsert)
      .onConflictDoUpdate({
        target: [d.kind, d.sourceKey],
        set: { ...values, embedding: null, embeddingModel: null, updatedAt: new Date() } as never,
        setWhere: sql`${d.contentHash} <> excluded.content_hash`,
      });
  }
}

export async function removeDocuments(db: Executor, kind: DocumentKind, keys: string[]): Promise<void> {
  const d = tables.searchDocuments;
  for (const key of keys) await db.delete(d).where(and(eq(d.kind, kind), eq(d.sourceKey, key)));
}
