import { eq } from 'drizzle-orm';
import { tables, type Executor } from '../db/index.js';
import type { DocumentKind, SearchDocumentInput, SearchSource } from './documents.js';

/**
 * A source that can list all its documents at once, cheaply: upstream tools (a few hundred per user, already in
 * memory where the connector keeps its tool lists). Plugging a kind of document into search is then one call:
 * `listSource('tool', () => currentToolDocuments(), subscribe)`. Differences with what is stored are found by
 * comparing keys and content hashes.
 */
export function listSource(
  kind: DocumentKind,
  list: () => Promise<SearchDocumentInput[]> | SearchDocumentInput[],
  subscribe: (listener: () => void) => () => void,
): SearchSource {
  const stored = async (db: Executor) => {
    const d = tables.searchDocuments;
    const rows = await db.select({ key: d.sourceKey, hash: d.contentHash }).from(d).where(eq(d.kind, kind));
    return new Map(rows.map((r) => [r.key, r.hash]));
  };
  return {
    kind,
    async outdated(db, limit) {
      const have = await stored(db);
      return (await list()).filter((doc) => have.get(doc.sourceKey) !== doc.contentHash).slice(0, limit);
    },
    async removed(db, limit) {
      const current = new Set((await list()).map((doc) => doc.sourceKey));
      return [...(await stored(db)).keys()].filter((key) => !current.has(key)).slice(0, limit);
    },
    onChange: subscribe,
  };
}
