import { EventEmitter } from 'node:events';
import type { Principal } from '../../shared/principal.js';
import type { SkillChange, SkillsService } from '../../skills/index.js';
import { LibraryCache, type LibraryCacheOptions } from './cache.js';
import { memo, SkillNotFound, userLibrary, type SkillLibrary } from './library.js';

/** Restricted search ranks this many of the caller's matches before keeping the allowed ones. */
const RESTRICTED_SEARCH_WINDOW = 200;

/**
 * The one place a credential's skill restriction is enforced: outside the allowed names, a skill is not listed,
 * found, searched, read or run, and answers exactly like a missing one.
 */
export function restrictLibrary(library: SkillLibrary, allowed: readonly string[]): SkillLibrary {
  const only = new Set(allowed);
  const allowedOf = (catalog: Awaited<ReturnType<SkillLibrary['catalog']>>) =>
    catalog.filter((s) => only.has(s.name));
  const check = (name: string) => {
    if (!only.has(name)) throw new SkillNotFound(name);
  };
  return {
    catalog: async () => memo(allowedOf, await library.catalog()),
    describe: async (name) => (check(name), library.describe(name)),
    readFile: async (name, path) => (check(name), library.readFile(name, path)),
    async search(query, limit) {
      const ranked = await library.search(query, Math.max(limit, RESTRICTED_SEARCH_WINDOW));
      return ranked.filter((s) => only.has(s.name)).slice(0, limit);
    },
    async entries(cursor, limit) {
      // Pages may come out short (even empty, with a cursor to the next): listing clients follow the cursor.
      const page = await library.entries(cursor, limit);
      return { ...page, skills: page.skills.filter((s) => only.has(s.name)) };
    },
    workingCopy: async (name) => (check(name), library.workingCopy(name)),
  };
}

/** A change to what one user (or, with null, everybody) can see of the skill library. */
export interface SkillViewChange {
  userId: string | null;
}

/**
 * Each caller's view of the skill library, shared by the skill tools and the Skills-over-MCP resources: the
 * user's library, narrowed by the credential's restriction when it has one. Views are built once per (user,
 * restriction) and kept. `change` is emitted after the caches a change affects were dropped, so a listener
 * that tells clients at once has them read fresh data.
 */
export class SkillViews {
  readonly events = new EventEmitter<{ change: [SkillViewChange] }>();
  private readonly views = new Map<string, SkillLibrary>();
  private readonly closers: Array<() => void> = [];

  constructor(
    private readonly libraryOf: (userId: string) => SkillLibrary,
    private readonly maxViews = 2_000,
  ) {
    this.events.setMaxListeners(0);
  }

  libraryFor(principal: Principal): SkillLibrary {
    const allowed = principal.restriction?.skills;
    const key = allowed ? `${principal.userId}\0${allowed.join('\0')}` : principal.userId;
    let view = this.views.get(key);
    if (!view) {
      const library = this.libraryOf(principal.userId);
      view = allowed ? restrictLibrary(library, allowed) : library;
      if (this.views.size >= this.maxViews) this.views.delete(this.views.keys().next().value!);
      this.views.set(key, view);
    }
    return view;
  }

  /** Reports that what `userId` (null: everybody) can see may have changed. */
  changed(userId: string | null): void {
    this.events.emit('change', { userId });
  }

  onClose(closer: () => void): void {
    this.closers.push(closer);
  }

  close(): void {
    for (const closer of this.closers.splice(0)) closer();
  }
}

/**
 * The multi-user server's views: each user's own and visible shared skills from the database, with the MCP hot
 * path's cache (`cache.ts`), dropped on every skill change event (local or, with Redis, from another instance)
 * before the change is reported.
 */
export function databaseSkillViews(skills: SkillsService, cacheOptions?: LibraryCacheOptions): SkillViews {
  const cache = new LibraryCache(cacheOptions);
  const views = new SkillViews((userId) => userLibrary(skills, userId, cache));
  const onChange = ({ userId }: SkillChange) => {
    cache.invalidate(userId);
    views.changed(userId);
  };
  skills.events.on('change', onChange);
  views.onClose(() => skills.events.off('change', onChange));
  return views;
}
