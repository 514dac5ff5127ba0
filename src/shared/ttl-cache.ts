import { LRUCache } from 'lru-cache';

/**
 * A small map whose entries expire after `ttlMs`: for what the hot path reads on every request and may see up to
 * `ttlMs` late from another instance (this instance drops an entry at once when it changes it). Beyond
 * `maxEntries` the least recently used entry goes first.
 */
export class TtlCache<K extends NonNullable<unknown>, V> {
  // lru-cache cannot hold `undefined` (it means "absent"): values are boxed so a cached `null` or `undefined` counts.
  private readonly entries: LRUCache<K, { value: V }>;

  constructor(ttlMs: number, maxEntries = 10_000) {
    this.entries = new LRUCache({ max: maxEntries, ttl: ttlMs });
  }

  async get(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit) return hit.value;
    const value = await load();
    this.entries.set(key, { value });
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
