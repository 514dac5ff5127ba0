import { notFound } from '../shared/errors.js';
import { contentTypeFor, type LoadedSkill, type SkillsService } from '../skills/index.js';
import type { LibraryCache } from './cache.js';

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
 * What the MCP tools and resources need from a skill library, for one caller. The multi-user server backs it
 * with the database (`userLibrary`); `skillport stdio` backs it with a folder. Every call may throw an
 * AppError (404 for an unknown skill or file); the MCP layer turns errors into tool errors.
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
 * HTTP server passes one), the catalog, the loaded skills and file contents are served from memory between
 * changes; search, listings and working copies always query.
 */
export function userLibrary(skills: SkillsService, userId: string, cache?: LibraryCache): SkillLibrary {
  const enabledOnly = { enabledOnly: true };
  const loaded = (name: string): Promise<LoadedSkill> =>
    cache ? cache.skill(userId, name, () => skills.load(userId, name)) : skills.load(userId, name);
  return {
    async catalog() {
      const rows = cache
        ? await cache.catalog(userId, () => skills.catalog(userId))
        : await skills.catalog(userId);
      return rows.map((r) => ({ name: r.name, description: r.description }));
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
      if (!cache) {
        const f = await skills.readFile(userId, name, 'latest', path, enabledOnly);
        return { data: f.data, contentType: f.contentType };
      }
      const skill = await loaded(name);
      const entry = skill.manifest.find((m) => m.path === path);
      if (!entry) throw notFound(`No file "${path}" in version ${skill.version.number} of "${name}"`);
      const data = await cache.blob(
        entry.sha256,
        async () => (await skills.readLoadedFile(skill, path)).data,
      );
      return { data, contentType: contentTypeFor(entry.path, data) };
    },
    search: (query, limit) => skills.search(userId, query, limit),
    async entries(cursor, limit) {
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
    },
    async workingCopy(name) {
      const c = await skills.versionContents(userId, name, 'latest', enabledOnly);
      return { version: c.version.number, runnable: c.skill.runCommandsEnabled, files: c.files };
    },
  };
}
