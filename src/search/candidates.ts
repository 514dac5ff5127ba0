import { LRUCache } from 'lru-cache';

/** One of a caller's embedded documents: enough to find its vector in the cache and to break ties. */
export interface CandidateId {
  id: string;
  name: string;
  /** Changes whenever the document's embedding does (see VectorCache). */
  stamp: string;
}

/** How long a caller view's candidate list is kept at most, whatever the events say (as the MCP library cache). */
const TTL_MS = 5_000;

/**
 * Each caller view's list of embedded documents (per kind), so that the portable vector search does not read a
 * thousand ids from the database on every query. Dropped on every change of a source (skill changes arrive from
 * other instances too, through the event bus) and after the indexer writes; entries older than five seconds are
 * never used, which bounds what a change on another instance can leave behind (a new document is found by its
 * words meanwhile). Only ever filled from the caller's own, filtered query.
 */
export class CandidateCache {
  private readonly entries: LRUCache<string, Promise<CandidateId[]>>;

  constructor(maxEntries = 2_000) {
    this.entries = new LRUCache({ max: maxEntries, ttl: TTL_MS });
  }

  get(key: string, load: () => Promise<CandidateId[]>): Promise<CandidateId[]> {
    const hit = this.entries.get(key);
    if (hit) return hit;
    const ids = load();
    ids.catch(() => this.entries.get(key) === ids && this.entries.delete(key));
    this.entries.set(key, ids);
    return ids;
  }

  clear(): void {
    this.entries.clear();
  }
}
