import { AppError } from '../../shared/errors.js';
import { contentTypeFor } from '../../skills/package/index.js';
import type { LoadedSkill, SkillsService } from '../../skills/index.js';
import { ToolError } from '../errors.js';
import type { LibraryCache } from './cache.js';

/** The caller has no (enabled, visible) skill of that name. */
export class SkillNotFound extends ToolError {
  constructor(readonly skill: string) {
    super('not_found', `No skill named "${skill}".`);
  }
}

/** The skill exists for the caller but has no such file (or it can no longer be read). */
export class SkillFileNotFound extends ToolError {
  constructor(
    readonly skill: string,
    readonly path: string,
    message = `No file "${path}" in skill "${skill}".`,
  ) {
    super('not_found', message);
  }
}

export const SKILL_URI_SCHEME = 'skill://';

/** The `skill://<name>/<path>` URI of a skill's file (Skills-over-MCP, and the tools' embedded resources). */
export const skillUri = (name: string, path: string) =>
  `${SKILL_URI_SCHEME}${name}/${path.split('/').map(encodeURIComponent).join('/')}`;

/** One file of a skill as the MCP layer describes it. */
export interface SkillFileInfo {
  path: string;
  size: number;
  executable: boolean;
  sha256: string;
}

export interface LibrarySkill {
  name: string;
  description: string;
  /** The SKILL.md frontmatter, verbatim. */
  frontmatter: Record<string, unknown>;
  files: SkillFileInfo[];
}

/**
 * What the skill tools and the Skills-over-MCP resources need from a skill library, for one caller. The
 * multi-user server backs it with the database (`userLibrary`); `skillport stdio` backs it with a folder. An
 * unknown skill throws `SkillNotFound`, an unknown file `SkillFileNotFound`.
 */
export interface SkillLibrary {
  /** Enabled skills the caller can use, by name. */
  catalog(): Promise<Array<{ name: string; description: string }>>;
  /** Metadata and file list of one enabled skill. */
  describe(name: string): Promise<LibrarySkill>;
  readFile(name: string, path: string): Promise<{ data: Buffer; contentType: string }>;
  search(query: string, limit: number): Promise<Array<{ name: string; description: string; score: number }>>;
  /** A page of skills with file digests, for Skills-over-MCP listings. */
  entries(
    cursor: string | undefined,
    limit: number,
  ): Promise<{ skills: LibrarySkill[]; nextCursor?: string }>;
  /** The current files with contents, for the sandbox; `runnable` is false when the owner switched commands off. */
  workingCopy(name: string): Promise<{
    version: number;
    runnable: boolean;
    files: Array<{ path: string; data: Buffer; executable: boolean }>;
  }>;
}

/**
 * The frontmatter exactly as SKILL.md has it: Skills-over-MCP clients parse SKILL.md and require it to equal
 * the entry's frontmatter, so the stored (trimmed) description must not replace the verbatim one (a folded
 * YAML description ends with a newline). Name and description are filled in only if somehow absent.
 */
const frontmatterOf = (fm: Record<string, unknown>, name: string, description: string) => ({
  name,
  description,
  ...fm,
});

/**
 * The database-backed library of one user: own skills and visible shared ones, enabled only. With a cache (the
 * HTTP server passes one), the catalog, the loaded skills, the listing's pages and file contents are served from
 * memory between changes; search and working copies always query.
 */
type CatalogEntry = { name: string; description: string };
const toCatalog = (rows: readonly CatalogEntry[]): CatalogEntry[] =>
  rows.map((r) => ({ name: r.name, description: r.description }));

const memos = new WeakMap<(input: never) => unknown, WeakMap<object, unknown>>();
/** `derive(input)`, computed once per input object (kept while the input lives). */
export function memo<I extends object, O>(derive: (input: I) => O, input: I): O {
  let results = memos.get(derive as (input: never) => unknown);
  if (!results) memos.set(derive as (input: never) => unknown, (results = new WeakMap()));
  if (!results.has(input)) results.set(input, derive(input));
  return results.get(input) as O;
}

export function userLibrary(skills: SkillsService, userId: string, cache?: LibraryCache): SkillLibrary {
  const loaded = (name: string): Promise<LoadedSkill> =>
    orSkillNotFound(name, () =>
      cache ? cache.skill(userId, name, () => skills.load(userId, name)) : skills.load(userId, name),
    );
  return {
    async catalog() {
      if (!cache) return toCatalog(await skills.catalog(userId));
      // One array per cached catalog, so that what is derived from it (the rendered listing) is derived once.
      return memo(toCatalog, await cache.catalog(userId, () => skills.catalog(userId)));
    },
    async describe(name) {
      const { skill, version, manifest } = await loaded(name);
      return {
        name: skill.name,
        description: skill.description,
        frontmatter: frontmatterOf(version.frontmatter, skill.name, skill.description),
        files: manifest,
      };
    },
    async readFile(name, path) {
      const skill = await loaded(name);
      const entry = skill.manifest.find((m) => m.path === path);
      if (!entry) throw new SkillFileNotFound(skill.skill.name, path);
      const read = async () => (await skills.readLoadedFile(skill, path)).data;
      const data = cache ? await cache.blob(entry.sha256, read) : await read();
      return { data, contentType: contentTypeFor(entry.path, data) };
    },
    search: (query, limit) => skills.search(userId, query, limit),
    async entries(cursor, limit) {
      const load = async () => {
        const page = await skills.catalogEntries(userId, cursor, limit);
        return {
          skills: page.entries.map((e) => ({
            name: e.skill.name,
            description: e.skill.description,
            frontmatter: frontmatterOf(e.version.frontmatter, e.skill.name, e.skill.description),
            files: e.files,
          })),
          nextCursor: page.nextCursor,
        };
      };
      // Pages are kept with the catalog and dropped with it (a change event, the TTL).
      return cache ? cache.page(userId, `${cursor ?? ''}\0${limit}`, load) : load();
    },
    async workingCopy(name) {
      const c = await orSkillNotFound(name, () => skills.workingCopy(userId, name));
      return { version: c.version.number, runnable: c.skill.runCommandsEnabled, files: c.files };
    },
  };
}

/** The skills service answers an unknown (or invisible, or disabled) skill with a 404: the port's SkillNotFound. */
async function orSkillNotFound<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError && err.kind === 'not_found') throw new SkillNotFound(name);
    throw err;
  }
}
