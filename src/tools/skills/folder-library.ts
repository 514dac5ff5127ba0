import { EventEmitter } from 'node:events';
import { watch, type Dirent, type FSWatcher } from 'node:fs';
import { constants as fsConstants, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../observability/index.js';
import { sha256Hex } from '../../shared/crypto.js';
import { InvalidInputError } from '../../shared/errors.js';
import { decodeCursor, encodeCursor } from '../../shared/pagination.js';
import {
  contentTypeFor,
  DEFAULT_ARCHIVE_LIMITS,
  decodeUtf8Strict,
  parseSkillMd,
  readSkillFolder,
  type ArchiveLimits,
} from '../../skills/package/index.js';
import {
  SkillFileNotFound,
  SkillNotFound,
  type LibrarySkill,
  type SkillFileInfo,
  type SkillLibrary,
} from './library.js';

const SKILL_MD = 'SKILL.md';
const SKIPPED_DIRS = new Set(['.git', 'node_modules', '__MACOSX']);
/** Beyond this many folders the library stops watching and polls instead (inotify watches are a finite resource). */
const MAX_WATCHED_DIRS = 2000;
const POLL_MS = 2000;
/** Bursts of file events (an editor saving, `cp -r`) are folded into one rescan. */
const WATCH_DEBOUNCE_MS = 50;

/** Sorts by UTF-16 code units, whatever the locale. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface FolderSkill extends LibrarySkill {
  /** Absolute path of the skill folder. */
  dir: string;
  /** SKILL.md body, for search. */
  body: string;
  /** The folder's mtime/size signature when it was read. */
  signature: string;
}

/** What a scan of the tree found: skill folders with their signatures, and every folder worth watching. */
interface TreeScan {
  skills: Array<{ dir: string; signature: string }>;
  dirs: string[];
}

export interface FolderLibraryOptions {
  /** The folder to serve: every sub-folder holding a SKILL.md (at any depth) is a skill. */
  root: string;
  limits?: ArchiveLimits;
  logger?: Logger;
  /**
   * Watch the folder (`fs.watch` on every folder of the tree) so that changes are noticed without a call,
   * falling back to polling where watching is unavailable. Calls always re-check the tree either way.
   */
  watch?: boolean;
}

export interface CatalogChange {
  added: string[];
  removed: string[];
  changed: string[];
}

/**
 * A `SkillLibrary` backed by a folder on disk, for `skillport stdio` (single user, no database).
 *
 * Every call first re-checks the tree with a cheap signature (path, size and mtime of every entry, no file
 * contents), and re-reads only the skill folders whose signature changed, through `readSkillFolder` (the same
 * limits and link rules as an upload). Skills that fail to read or validate are left out with a warning on
 * the logger. When two folders declare the same skill name, the first by path wins.
 *
 * Emits `change` (with a `CatalogChange`) whenever a re-check finds skills added, removed or changed, whether
 * a call or the watcher noticed it first.
 */
export class FolderSkillLibrary implements SkillLibrary {
  readonly events = new EventEmitter();
  readonly root: string;
  private readonly limits: ArchiveLimits;
  private readonly logger: Logger | undefined;
  private skills = new Map<string, FolderSkill>();
  /** Skill folders by absolute path, with what was read from them (or the reason they were refused). */
  private byDir = new Map<string, { signature: string; skill?: FolderSkill; error?: string }>();
  private scanning: Promise<void> | null = null;
  private followUp: Promise<void> | null = null;
  private readonly watchers = new Map<string, FSWatcher>();
  private pollTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private scannedOnce = false;

  constructor(private readonly options: FolderLibraryOptions) {
    this.root = path.resolve(options.root);
    this.limits = options.limits ?? DEFAULT_ARCHIVE_LIMITS;
    this.logger = options.logger;
    this.events.setMaxListeners(0);
  }

  /** Scans the folder once (and starts watching it when asked). Throws when the folder does not exist. */
  async open(): Promise<this> {
    const st = await stat(this.root).catch(() => null);
    if (!st?.isDirectory()) throw new InvalidInputError('bad_request', `${this.root} is not a folder`);
    await this.refresh();
    return this;
  }

  /** Stops watching. Calls keep working (they re-check the tree themselves). */
  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = this.debounceTimer = null;
  }

  /** The current skills, sorted by name (after a re-check). */
  async list(): Promise<FolderSkill[]> {
    await this.refresh();
    return [...this.skills.values()];
  }

  /**
   * Re-checks the tree and re-reads what changed. Concurrent calls share one scan; a call arriving while a
   * scan runs waits for a fresh one, so its answer reflects the disk at least as of when it was made.
   */
  refresh(): Promise<void> {
    if (!this.scanning) {
      this.scanning = this.rescan().finally(() => {
        this.scanning = null;
      });
      return this.scanning;
    }
    // A scan is running but may have started before the caller's change: every caller arriving now shares one
    // follow-up scan (never one each).
    this.followUp ??= this.scanning
      .catch(() => undefined)
      .then(() => {
        this.followUp = null;
        return this.refresh();
      });
    return this.followUp;
  }

  // ---- SkillLibrary ---------------------------------------------------------------------------------------

  async catalog(): Promise<Array<{ name: string; description: string }>> {
    return (await this.list()).map((s) => ({ name: s.name, description: s.description }));
  }

  async describe(name: string): Promise<LibrarySkill> {
    await this.refresh();
    return this.get(name);
  }

  async readFile(name: string, filePath: string): Promise<{ data: Buffer; contentType: string }> {
    await this.refresh();
    const skill = this.get(name);
    const entry = skill.files.find((f) => f.path === filePath);
    if (!entry) throw new SkillFileNotFound(name, filePath);
    const data = await this.readFromDisk(skill, entry);
    return { data, contentType: contentTypeFor(entry.path, data) };
  }

  async search(
    query: string,
    limit: number,
  ): Promise<Array<{ name: string; description: string; score: number }>> {
    const terms = [...new Set(tokens(query).slice(0, 16))];
    if (!terms.length) return [];
    const scored = [];
    for (const s of await this.list()) {
      const score = searchScore(terms, s);
      if (score > 0)
        scored.push({ name: s.name, description: s.description, score: Math.round(score * 1000) / 1000 });
    }
    return scored.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name)).slice(0, limit);
  }

  async entries(
    cursor: string | undefined,
    limit: number,
  ): Promise<{ skills: LibrarySkill[]; nextCursor?: string }> {
    const after = decodeCursor(cursor, z.object({ n: z.string() }))?.n;
    const all = (await this.list()).filter((s) => after === undefined || s.name > after);
    const page = all.slice(0, limit);
    const last = page[page.length - 1];
    return {
      skills: page.map(publicView),
      ...(all.length > limit && last ? { nextCursor: encodeCursor({ n: last.name }) } : {}),
    };
  }

  async workingCopy(name: string) {
    await this.refresh();
    const skill = this.get(name);
    const files = [];
    for (const f of skill.files) {
      files.push({ path: f.path, data: await this.readFromDisk(skill, f), executable: f.executable });
    }
    // Local mode: the files are the user's own, on their own disk; there is no owner switch to honour.
    return { version: 1, runnable: true, files };
  }

  // ---- internals ------------------------------------------------------------------------------------------

  private get(name: string): FolderSkill {
    const skill = this.skills.get(name);
    if (!skill) throw new SkillNotFound(name);
    return skill;
  }

  /**
   * Reads one listed file again. The path comes from the skill's own listing (never from the caller), the
   * final component must not be a link, and the size limit still applies.
   */
  private async readFromDisk(skill: FolderSkill, entry: SkillFileInfo): Promise<Buffer> {
    const abs = path.join(skill.dir, ...entry.path.split('/'));
    const handle = await open(abs, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0)).catch(() => null);
    if (!handle)
      throw new SkillFileNotFound(
        skill.name,
        entry.path,
        `File "${entry.path}" of skill "${skill.name}" is no longer on disk`,
      );
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.size > this.limits.maxFileBytes) {
        throw new SkillFileNotFound(
          skill.name,
          entry.path,
          `File "${entry.path}" of skill "${skill.name}" can no longer be read`,
        );
      }
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  private async rescan(): Promise<void> {
    const tree = await this.scanTree();
    const nextByDir = new Map<string, { signature: string; skill?: FolderSkill; error?: string }>();
    for (const { dir, signature } of tree.skills) {
      const known = this.byDir.get(dir);
      if (known && known.signature === signature) {
        nextByDir.set(dir, known);
        continue;
      }
      try {
        nextByDir.set(dir, { signature, skill: await this.readSkill(dir, signature) });
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        if (known?.error !== error) {
          this.logger?.warn({ folder: this.relative(dir), error }, 'skill folder skipped');
        }
        nextByDir.set(dir, { signature, error });
      }
    }

    const next = new Map<string, FolderSkill>();
    for (const [dir, r] of [...nextByDir].sort(([a], [b]) => byCodeUnit(a, b))) {
      if (!r.skill) continue;
      const first = next.get(r.skill.name);
      if (first) {
        if (this.byDir.get(dir)?.signature !== r.signature) {
          this.logger?.warn(
            { folder: this.relative(dir), kept: this.relative(first.dir), name: r.skill.name },
            'duplicate skill name; the first folder by path is served',
          );
        }
        continue;
      }
      next.set(r.skill.name, r.skill);
    }
    const sorted = new Map([...next].sort(([a], [b]) => byCodeUnit(a, b)));
    const change = diff(this.skills, sorted);
    const first = !this.scannedOnce;
    this.scannedOnce = true;
    this.byDir = nextByDir;
    this.skills = sorted;
    if (!this.closed && this.options.watch) this.syncWatchers(tree.dirs);
    if (!first && (change.added.length || change.removed.length || change.changed.length)) {
      this.logger?.info({ ...change }, 'skills folder changed');
      this.events.emit('change', change);
    }
  }

  private async readSkill(dir: string, signature: string): Promise<FolderSkill> {
    const pkg = await readSkillFolder(dir, this.limits);
    const md = pkg.files.find((f) => f.path === SKILL_MD)!;
    const parsed = parseSkillMd(decodeUtf8Strict(md.data), pkg.rootFolder);
    return {
      name: parsed.name,
      description: parsed.description,
      frontmatter: parsed.frontmatter,
      files: pkg.files.map((f) => ({
        path: f.path,
        size: f.data.length,
        executable: f.executable,
        sha256: sha256Hex(f.data),
      })),
      dir,
      body: parsed.body,
      signature,
    };
  }

  /**
   * Walks the tree without reading any file: finds the skill folders (a folder holding a SKILL.md; its own
   * sub-folders belong to it and are not searched for more skills) and fingerprints each by the path, type,
   * size and mtime of everything inside it.
   */
  private async scanTree(): Promise<TreeScan> {
    const skills: TreeScan['skills'] = [];
    const dirs: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
      if (!entries) return;
      dirs.push(dir);
      if (entries.some((e) => e.name === SKILL_MD && (e.isFile() || e.isSymbolicLink()))) {
        const parts: string[] = [];
        await this.fingerprint(dir, '', entries, parts, dirs);
        skills.push({ dir, signature: sha256Hex(parts.join('\n')) });
        return;
      }
      for (const e of entries) {
        if (e.isDirectory() && !SKIPPED_DIRS.has(e.name)) await walk(path.join(dir, e.name));
      }
    };
    await walk(this.root);
    return { skills, dirs };
  }

  private async fingerprint(
    dir: string,
    rel: string,
    entries: Dirent[],
    parts: string[],
    dirs: string[],
  ): Promise<void> {
    entries.sort((a, b) => byCodeUnit(a.name, b.name));
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (SKIPPED_DIRS.has(e.name)) continue;
        const children = await readdir(abs, { withFileTypes: true }).catch(() => null);
        if (!children) continue;
        dirs.push(abs);
        parts.push(`d ${relPath}`);
        await this.fingerprint(abs, relPath, children, parts, dirs);
        continue;
      }
      const st = await stat(abs).catch(() => null);
      parts.push(
        `${e.isSymbolicLink() ? 'l' : 'f'} ${relPath} ${st ? `${st.size} ${st.mtimeMs} ${st.mode}` : '-'}`,
      );
    }
  }

  /** Keeps one non-recursive watcher per folder of the tree; polls instead when that is not possible. */
  private syncWatchers(dirs: string[]): void {
    if (this.pollTimer) return;
    if (dirs.length > MAX_WATCHED_DIRS) return this.startPolling(`more than ${MAX_WATCHED_DIRS} folders`);
    const wanted = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.scheduleRescan());
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
          this.scheduleRescan();
        });
        this.watchers.set(dir, w);
      } catch (err) {
        return this.startPolling((err as Error).message);
      }
    }
  }

  private startPolling(reason: string): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.logger?.info({ reason, every_ms: POLL_MS }, 'not watching the skills folder; polling it');
    this.pollTimer = setInterval(() => this.scheduleRescan(), POLL_MS);
    this.pollTimer.unref();
  }

  private scheduleRescan(): void {
    if (this.closed || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      this.refresh().catch((err) => this.logger?.warn({ err: (err as Error).message }, 'rescan failed'));
    }, WATCH_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private relative(dir: string): string {
    return path.relative(this.root, dir) || '.';
  }
}

const publicView = (s: FolderSkill): LibrarySkill => ({
  name: s.name,
  description: s.description,
  frontmatter: s.frontmatter,
  files: s.files,
});

function diff(before: Map<string, FolderSkill>, after: Map<string, FolderSkill>): CatalogChange {
  const added = [...after.keys()].filter((n) => !before.has(n));
  const removed = [...before.keys()].filter((n) => !after.has(n));
  const changed = [...after.keys()].filter((n) => {
    const b = before.get(n);
    return b !== undefined && b.signature !== after.get(n)!.signature;
  });
  return { added, removed, changed };
}

const tokens = (text: string) => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** The words search matches against, split once per skill as read (a re-read skill is a new object). */
const searchWords = new WeakMap<FolderSkill, { name: string[]; description: string[]; body: string[] }>();

/**
 * Ranks a skill for query terms with no index: each term found (as a word prefix) in the name counts 3, in
 * the description 2, in the body up to 1 (by how often it occurs). Skills matching no term score 0.
 */
function searchScore(terms: string[], skill: FolderSkill): number {
  let words = searchWords.get(skill);
  if (!words) {
    words = {
      name: tokens(skill.name),
      description: tokens(skill.description),
      body: tokens(skill.body.slice(0, 200_000)),
    };
    searchWords.set(skill, words);
  }
  const { name, description, body } = words;
  let score = 0;
  for (const t of terms) {
    const matches = (words: string[]) => words.some((w) => w.startsWith(t));
    if (matches(name)) score += 3;
    if (matches(description)) score += 2;
    const inBody = body.filter((w) => w.startsWith(t)).length;
    if (inBody) score += Math.min(inBody, 5) / 5;
  }
  return score / terms.length;
}
