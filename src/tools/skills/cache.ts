import type { LoadedSkill } from '../../skills/index.js';

export interface LibraryCacheOptions {
  /**
   * How long an entry may be served without being re-read. Changes made through this instance's SkillsService
   * invalidate at once; the TTL bounds everything else (another instance on the same PostgreSQL, rows removed
   * by an account deletion cascade).
   */
  ttlMs?: number;
  maxUsers?: number;
  maxSkillsPerUser?: number;
  /** Pages of the Skills-over-MCP listing kept per user. */
  maxPagesPerUser?: number;
  /** Total bytes of file contents kept. */
  maxBlobBytes?: number;
  /** Larger files are never kept. */
  maxBlobSize?: number;
}

type CatalogRow = { name: string; description: string; id: string };

interface UserEntry {
  expires: number;
  catalog?: CatalogRow[];
  skills: Map<string, LoadedSkill>;
  /** Listing pages by their cursor and size (`skills/list`). */
  pages: Map<string, unknown>;
}

/**
 * The MCP hot path's memory: per user, the catalog, the loaded skills (current version and manifest) the
 * tools resolved and the pages of the Skills-over-MCP listing, and file contents by SHA-256.
 *
 * Correctness rests on three rules:
 * - Entries are per user and only ever filled from that user's own queries (the access checks happen there);
 *   contents are keyed by digest, which is immutable, and are only reached through a manifest found that way.
 * - `invalidate(userId)` (or `invalidate(null)` for everybody, when a shared skill changed) runs on every change
 *   event, before clients are told about the change.
 * - A load that started before an invalidation never stores its (possibly stale) result: each user has a
 *   generation, captured when the load starts and compared when it ends.
 */
export class LibraryCache {
  private readonly ttlMs: number;
  private readonly maxUsers: number;
  private readonly maxSkillsPerUser: number;
  private readonly maxPagesPerUser: number;
  private readonly maxBlobBytes: number;
  private readonly maxBlobSize: number;
  private readonly users = new Map<string, UserEntry>();
  private readonly userGenerations = new Map<string, number>();
  private globalGeneration = 0;
  private readonly blobs = new Map<string, Buffer>();
  private blobBytes = 0;

  constructor(opts: LibraryCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5_000;
    this.maxUsers = opts.maxUsers ?? 2_000;
    this.maxSkillsPerUser = opts.maxSkillsPerUser ?? 256;
    this.maxPagesPerUser = opts.maxPagesPerUser ?? 64;
    this.maxBlobBytes = opts.maxBlobBytes ?? 64 * 1024 * 1024;
    this.maxBlobSize = opts.maxBlobSize ?? 2 * 1024 * 1024;
  }

  /** Forgets what one user (or, with null, every user) can see. File contents stay: they are immutable. */
  invalidate(userId: string | null): void {
    if (userId === null) {
      this.globalGeneration++;
      this.users.clear();
      this.userGenerations.clear(); // the global generation already voids every load in flight
      return;
    }
    this.userGenerations.set(userId, (this.userGenerations.get(userId) ?? 0) + 1);
    this.users.delete(userId);
  }

  catalog(userId: string, load: () => Promise<CatalogRow[]>): Promise<CatalogRow[]> {
    const hit = this.entry(userId)?.catalog;
    if (hit) return Promise.resolve(hit);
    return this.fill(userId, load, (e, v) => (e.catalog = v));
  }

  skill(userId: string, name: string, load: () => Promise<LoadedSkill>): Promise<LoadedSkill> {
    const hit = this.entry(userId)?.skills.get(name);
    if (hit) return Promise.resolve(hit);
    return this.fill(userId, load, (e, v) => {
      if (e.skills.size >= this.maxSkillsPerUser) e.skills.delete(e.skills.keys().next().value!);
      e.skills.set(name, v);
    });
  }

  /** One page of the user's listing (`key`: its cursor and size), kept like the catalog. */
  page<T>(userId: string, key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entry(userId)?.pages.get(key);
    if (hit) return Promise.resolve(hit as T);
    return this.fill(userId, load, (e, v) => {
      if (e.pages.size >= this.maxPagesPerUser) e.pages.delete(e.pages.keys().next().value!);
      e.pages.set(key, v);
    });
  }

  /** A file's contents by digest (the caller found the digest in a manifest it was allowed to see). */
  async blob(sha256: string, load: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.blobs.get(sha256);
    if (hit) {
      this.blobs.delete(sha256);
      this.blobs.set(sha256, hit); // LRU order
      return hit;
    }
    const data = await load();
    if (data.length <= this.maxBlobSize && !this.blobs.has(sha256)) {
      this.blobs.set(sha256, data);
      this.blobBytes += data.length;
      for (const [key, value] of this.blobs) {
        if (this.blobBytes <= this.maxBlobBytes) break;
        this.blobs.delete(key);
        this.blobBytes -= value.length;
      }
    }
    return data;
  }

  private generation(userId: string): string {
    return `${this.globalGeneration}:${this.userGenerations.get(userId) ?? 0}`;
  }

  private entry(userId: string): UserEntry | undefined {
    const e = this.users.get(userId);
    if (e && e.expires <= Date.now()) {
      this.users.delete(userId);
      return undefined;
    }
    return e;
  }

  private async fill<T>(
    userId: string,
    load: () => Promise<T>,
    store: (e: UserEntry, v: T) => void,
  ): Promise<T> {
    const before = this.generation(userId);
    const value = await load();
    if (this.generation(userId) !== before) return value; // changed while loading: serve it, do not keep it
    let e = this.entry(userId);
    if (!e) {
      if (this.users.size >= this.maxUsers) this.users.delete(this.users.keys().next().value!);
      e = { expires: Date.now() + this.ttlMs, skills: new Map(), pages: new Map() };
      this.users.set(userId, e);
    }
    store(e, value);
    return value;
  }
}
