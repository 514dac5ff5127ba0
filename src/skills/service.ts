import { authorize } from '../authz/index.js';
import { EventEmitter } from 'node:events';
import { and, asc, desc, eq, inArray, isNotNull, sql, type SQL } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { tables, type Database, type Executor, type Transaction, isUniqueViolation } from '../db/index.js';
import { recordAudit } from '../audit/index.js';
import { sha256Hex } from '../shared/crypto.js';
import { conflict, forbidden, InvalidInputError, notFound, unprocessable } from '../shared/errors.js';
import { decodeCursor, encodeCursor, type Page } from '../shared/pagination.js';
import type { Principal } from '../shared/principal.js';
import { digestOf, lockPresent, type BlobStore } from './blob-store.js';
import { contentTypeFor } from './package/index.js';
import { decodeUtf8Strict, parseSkillMd, type ParsedSkill, type SkillFiles } from './package/index.js';
import {
  toFileEntryView,
  toSkillView,
  toVersionView,
  type FileEntryView,
  type SkillView,
  type VersionView,
} from './views.js';

type SkillRow = typeof tables.skills.$inferSelect;
type VersionRow = typeof tables.skillVersions.$inferSelect;

export interface UploadResult {
  skill: SkillView;
  version: VersionView;
  warnings: string[];
}

export interface SkillFileContent {
  path: string;
  data: Buffer;
  size: number;
  executable: boolean;
  contentType: string;
}

/** A skill's current version, as the MCP tools and the sandbox need it. */
export interface LoadedSkill {
  skill: SkillRow;
  version: VersionRow;
  manifest: FileEntryView[];
}

export interface SkillChange {
  /** The user whose view changed, or null when a shared skill changed (everybody's view). */
  userId: string | null;
}

export interface ListQuery {
  q?: string;
  scope: 'all' | 'own' | 'shared';
  includeDisabled: boolean;
  cursor?: string;
  limit: number;
}

const SKILL_MD = 'SKILL.md';
/** tsvector documents are limited to 1 MiB; the body beyond this adds little to ranking. */
const SEARCH_BODY_CHARS = 200_000;
/** Bounds of the values a cursor may carry (a skill name is at most 64 characters; 4× leaves room). */
const MAX_NAME_CURSOR = 256;
const MAX_RANKED_OFFSET = 1_000_000;

/**
 * The skill library: private, versioned skills per user plus admin-published shared ones. Every read takes the
 * caller's user id and only ever finds that user's skills or shared ones, so a name, id or version of somebody
 * else's private skill is indistinguishable from one that does not exist.
 */
/** A version with every file's contents. */
export interface VersionContents {
  skill: SkillRow;
  version: VersionRow;
  files: Array<{ path: string; data: Buffer; executable: boolean }>;
}

export class SkillsService {
  /** Emits `change` with a SkillChange whenever what a user can see may have changed. */
  readonly events = new EventEmitter();
  /** The files of the versions last run (see workingCopy). */
  private readonly recentVersions = new LRUCache<string, Pick<VersionContents, 'version' | 'files'>>({
    maxSize: 32 * 1024 * 1024,
    maxEntrySize: 8 * 1024 * 1024,
    sizeCalculation: ({ files }) => files.reduce((n, f) => n + f.data.length + f.path.length, 1),
  });

  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
  ) {
    this.events.setMaxListeners(0);
  }

  // ---- writes ---------------------------------------------------------------------------------------------

  async create(principal: Principal, pkg: SkillFiles, ip: string | null): Promise<UploadResult> {
    const parsed = parsePackage(pkg);
    authorize(principal, 'skills.create', { name: parsed.name });
    try {
      const result = await this.db.transaction(async (tx) => {
        const [skill] = await tx
          .insert(tables.skills)
          .values({ ownerId: principal.userId, name: parsed.name, description: parsed.description })
          .returning();
        const version = await this.insertVersion(tx, skill!, pkg, parsed);
        await auditSkill(tx, principal, 'skill.create', skill!, ip, {
          name: parsed.name,
          version: version.number,
        });
        return { skill: { ...skill!, currentVersionId: version.id }, version };
      });
      this.changed(principal.userId, false);
      return this.uploadResult(principal.userId, result.skill, result.version);
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw conflict(
          `You already have a skill named "${parsed.name}"; upload a new version of it instead`,
          {
            name: parsed.name,
          },
        );
      }
      throw err;
    }
  }

  async addVersion(
    principal: Principal,
    name: string,
    pkg: SkillFiles,
    ip: string | null,
  ): Promise<UploadResult> {
    const parsed = parsePackage(pkg);
    const result = await this.db.transaction(async (tx) => {
      const skill = await this.ownSkillForUpdate(tx, principal, name);
      if (parsed.name !== skill.name) {
        throw unprocessable(
          'name_mismatch',
          `The uploaded SKILL.md is named "${parsed.name}" but this skill is "${skill.name}"; a skill keeps its name`,
          { expected: skill.name, actual: parsed.name },
        );
      }
      const version = await this.insertVersion(tx, skill, pkg, parsed);
      await auditSkill(tx, principal, 'skill.version.create', skill, ip, {
        name: skill.name,
        version: version.number,
      });
      return { skill: { ...skill, currentVersionId: version.id, description: parsed.description }, version };
    });
    this.changed(principal.userId, result.skill.shared);
    return this.uploadResult(principal.userId, result.skill, result.version);
  }

  /** Creates the skill or adds a version when its content differs from the current one (CLI import). */
  async importPackage(
    principal: Principal,
    pkg: SkillFiles,
  ): Promise<{ status: 'created' | 'updated' | 'unchanged'; result?: UploadResult; name: string }> {
    const parsed = parsePackage(pkg);
    const existing = await this.findOwn(this.db, principal.userId, parsed.name);
    if (!existing)
      return { status: 'created', result: await this.create(principal, pkg, null), name: parsed.name };
    const current = await this.manifest(this.db, existing.currentVersionId!);
    const byPath = new Map(current.map((m) => [m.path, m]));
    const same =
      current.length === pkg.files.length &&
      pkg.files.every((f) => {
        const c = byPath.get(f.path);
        return c !== undefined && c.executable === f.executable && c.sha256 === sha256Hex(f.data);
      });
    if (same) return { status: 'unchanged', name: parsed.name };
    return {
      status: 'updated',
      result: await this.addVersion(principal, parsed.name, pkg, null),
      name: parsed.name,
    };
  }

  async update(
    principal: Principal,
    name: string,
    patch: { enabled?: boolean; run_commands_enabled?: boolean; shared?: boolean; hidden?: boolean },
    ip: string | null,
  ): Promise<SkillView> {
    const skill = await this.resolveFor(principal, name, 'skills.manage');
    const own = skill.ownerId === principal.userId;
    if (!own) {
      const others = Object.keys(patch).filter(
        (k) => k !== 'hidden' && patch[k as keyof typeof patch] !== undefined,
      );
      if (others.length)
        throw forbidden(`Shared skills are read-only; you can only hide them (not: ${others.join(', ')})`);
    }
    if (own && patch.hidden !== undefined) {
      throw new InvalidInputError('validation_error', 'Only shared skills can be hidden', {
        fields: [{ path: 'hidden', message: 'applies to shared skills only' }],
      });
    }
    if (patch.shared !== undefined) authorize(principal, 'skills.share');
    await this.db.transaction(async (tx) => {
      if (own) {
        const set: Partial<typeof tables.skills.$inferInsert> = { updatedAt: new Date() };
        if (patch.enabled !== undefined) set.enabled = patch.enabled;
        if (patch.run_commands_enabled !== undefined) set.runCommandsEnabled = patch.run_commands_enabled;
        if (patch.shared !== undefined) set.shared = patch.shared;
        await tx.update(tables.skills).set(set).where(eq(tables.skills.id, skill.id));
      } else if (patch.hidden === true) {
        await tx
          .insert(tables.hiddenSkills)
          .values({ userId: principal.userId, skillId: skill.id })
          .onConflictDoNothing();
      } else if (patch.hidden === false) {
        await tx
          .delete(tables.hiddenSkills)
          .where(
            and(eq(tables.hiddenSkills.userId, principal.userId), eq(tables.hiddenSkills.skillId, skill.id)),
          );
      }
      await auditSkill(tx, principal, 'skill.update', skill, ip, { name: skill.name, ...patch });
    });
    this.changed(principal.userId, own && (skill.shared || patch.shared === true));
    return this.get(principal, skill.name);
  }

  async rollback(
    principal: Principal,
    name: string,
    versionNumber: number,
    ip: string | null,
  ): Promise<SkillView> {
    const skill = await this.db.transaction(async (tx) => {
      const s = await this.ownSkillForUpdate(tx, principal, name);
      const version = await this.versionByNumber(tx, s, versionNumber);
      const body = await this.skillMdText(tx, version.id);
      await tx
        .update(tables.skills)
        .set({
          currentVersionId: version.id,
          description: String(version.frontmatter.description ?? s.description).trim(),
          updatedAt: new Date(),
        })
        .where(eq(tables.skills.id, s.id));
      await this.updateSearch(tx, s.id, body);
      await auditSkill(tx, principal, 'skill.rollback', s, ip, { name: s.name, version: versionNumber });
      return s;
    });
    this.changed(principal.userId, skill.shared);
    return this.get(principal, name);
  }

  async deleteVersion(
    principal: Principal,
    name: string,
    versionNumber: number,
    ip: string | null,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      const s = await this.ownSkillForUpdate(tx, principal, name);
      const version = await this.versionByNumber(tx, s, versionNumber);
      if (version.id === s.currentVersionId) {
        throw conflict('The current version cannot be deleted; roll back to another version first');
      }
      const digests = (await this.manifest(tx, version.id)).map((f) => f.sha256);
      await tx.delete(tables.skillVersions).where(eq(tables.skillVersions.id, version.id));
      await this.blobs.collectGarbage(tx, digests);
      await auditSkill(tx, principal, 'skill.version.delete', s, ip, {
        name: s.name,
        version: versionNumber,
      });
    });
  }

  async delete(principal: Principal, name: string, ip: string | null): Promise<void> {
    const skill = await this.db.transaction(async (tx) => {
      const s = await this.ownSkillForUpdate(tx, principal, name);
      const digests = await tx
        .selectDistinct({ sha256: tables.versionFiles.sha256 })
        .from(tables.versionFiles)
        .innerJoin(tables.skillVersions, eq(tables.skillVersions.id, tables.versionFiles.versionId))
        .where(eq(tables.skillVersions.skillId, s.id));
      await tx.delete(tables.skills).where(eq(tables.skills.id, s.id));
      await this.blobs.collectGarbage(
        tx,
        digests.map((d) => d.sha256),
      );
      await auditSkill(tx, principal, 'skill.delete', s, ip, { name: s.name });
      return s;
    });
    this.changed(principal.userId, skill.shared);
  }

  /** Account deletion hook: the user's rows are gone; free the blobs only they referenced. */
  readonly afterAccountDeleted = async (tx: Transaction): Promise<void> => {
    await this.blobs.collectGarbage(tx);
  };

  // ---- reads ----------------------------------------------------------------------------------------------

  async list(actor: Principal, query: ListQuery): Promise<Page<SkillView>> {
    authorize(actor, 'skills.list');
    const userId = actor.userId;
    const s = tables.skills;
    const where: SQL[] = [visibleTo(userId, query.scope === 'shared'), isNotNull(s.currentVersionId)];
    // A key restricted to some skills lists only those (the same rule as skills.read, as a condition).
    const only = actor.restriction?.skills;
    const restricted = only ? (only.length ? inArray(s.name, [...only]) : sql`false`) : undefined;
    if (restricted) where.push(restricted);
    if (query.scope === 'own') where.push(eq(s.ownerId, userId));
    if (query.scope === 'shared') where.push(sql`${s.ownerId} <> ${userId}`);
    if (!query.includeDisabled) where.push(eq(s.enabled, true));
    const tsquery = query.q ? toTsQuery(query.q) : null;
    if (query.q && !tsquery) return { items: [], next_cursor: null };
    if (tsquery) where.push(sql`${s.search} @@ ${tsquery}`);

    const hidden = sql<boolean>`exists (select 1 from hidden_skills h where h.user_id = ${userId} and h.skill_id = ${s.id})`;
    // The page is chosen from `skills` alone and its versions are read afterwards (see withCurrentVersions).
    const base = this.db.select({ skill: s, hidden }).from(s);

    if (tsquery) {
      // Ranked results page by offset: rank order has no stable key to continue from.
      const offset =
        decodeCursor(query.cursor, z.object({ o: z.number().int().min(0).max(MAX_RANKED_OFFSET) }))?.o ?? 0;
      const rows = await base
        .where(and(...where))
        .orderBy(desc(sql`ts_rank_cd(${s.search}, ${tsquery})`), asc(s.name), asc(s.id))
        .limit(query.limit + 1)
        .offset(offset);
      const page = await this.withCurrentVersions(rows.slice(0, query.limit));
      return {
        items: page.map((r) => toSkillView(r.skill, r.version, userId, r.hidden)),
        next_cursor: rows.length > query.limit ? encodeCursor({ o: offset + query.limit }) : null,
      };
    }
    const after = afterNameCursor(query.cursor);
    const rows = await base
      .where(
        pageOfVisible(userId, {
          own: query.scope !== 'shared',
          shared: query.scope !== 'own',
          includeHidden: query.scope === 'shared',
          includeDisabled: query.includeDisabled,
          also: [...(after ? [after] : []), ...(restricted ? [restricted] : [])],
          limit: query.limit + 1,
        }),
      )
      .orderBy(asc(s.name), asc(s.id));
    const page = await this.withCurrentVersions(rows.slice(0, query.limit));
    return {
      items: page.map((r) => toSkillView(r.skill, r.version, userId, r.hidden)),
      next_cursor: nextNameCursor(rows, query.limit),
    };
  }

  async get(actor: Principal, name: string): Promise<SkillView> {
    const skill = await this.resolveFor(actor, name, 'skills.read');
    const version = await this.versionById(this.db, skill.currentVersionId!);
    return toSkillView(skill, version, actor.userId, await this.isHidden(actor.userId, skill.id));
  }

  /** Every version for the owner; only the current one for anybody else (see resolveVersion). */
  async listVersions(actor: Principal, name: string): Promise<Page<VersionView>> {
    const userId = actor.userId;
    const skill = await this.resolveFor(actor, name, 'skills.read');
    const versions = tables.skillVersions;
    const rows = await this.db
      .select()
      .from(versions)
      .where(
        skill.ownerId === userId ? eq(versions.skillId, skill.id) : eq(versions.id, skill.currentVersionId!),
      )
      .orderBy(desc(versions.number));
    return { items: rows.map((v) => toVersionView(v, skill.currentVersionId)), next_cursor: null };
  }

  async files(actor: Principal, name: string, version: number | 'latest'): Promise<FileEntryView[]> {
    const { version: v } = await this.resolveVersion(actor, name, version);
    return this.manifest(this.db, v.id);
  }

  async readFile(
    actor: Principal,
    name: string,
    version: number | 'latest',
    filePath: string,
  ): Promise<SkillFileContent> {
    const { version: v } = await this.resolveVersion(actor, name, version);
    const [entry] = await this.db
      .select()
      .from(tables.versionFiles)
      .where(and(eq(tables.versionFiles.versionId, v.id), eq(tables.versionFiles.path, filePath)));
    if (!entry) throw notFound(`No file "${filePath}" in version ${v.number} of "${name}"`);
    return this.fileContent(entry);
  }

  /** Every file of a version with its contents (zip download, `skillport export`). */
  async versionContents(
    actor: Principal,
    name: string,
    version: number | 'latest',
  ): Promise<VersionContents> {
    const { skill, version: v } = await this.resolveVersion(actor, name, version);
    return (await this.contentsOf(skill, v)).contents;
  }

  /**
   * The current files of an enabled skill of the user's library, for the sandbox's working copy. The tool layer
   * asks for its per-user library (shared by the user's credentials; `restrictLibrary` narrows it per key).
   */
  async workingCopy(userId: string, name: string): Promise<VersionContents> {
    // The skill's row decides, on every call, whether the user may run it and which version; a version's files
    // never change, so those of the versions last run are kept (three queries less per run).
    const skill = await this.resolve(this.db, userId, name, { enabledOnly: true });
    const recent = this.recentVersions.get(skill.currentVersionId!);
    if (recent) return { skill, ...recent };
    const read = await this.contentsOf(skill, await this.versionById(this.db, skill.currentVersionId!));
    // A version with a file that could not be read is not kept: it is read again next time.
    const { version, files } = read.contents;
    if (read.complete) this.recentVersions.set(version.id, { version, files });
    return read.contents;
  }

  /** A version's files; `complete` is false when a blob could not be read (its file is then empty). */
  private async contentsOf(
    skill: SkillRow,
    v: VersionRow,
  ): Promise<{ contents: VersionContents; complete: boolean }> {
    const manifest = await this.manifest(this.db, v.id);
    const blobs = await this.blobs.getMany(
      this.db,
      manifest.map((m) => m.sha256),
    );
    return {
      contents: {
        skill,
        version: v,
        files: manifest.map((m) => ({
          path: m.path,
          data: blobs.get(m.sha256) ?? Buffer.alloc(0),
          executable: m.executable,
        })),
      },
      complete: manifest.every((m) => blobs.has(m.sha256)),
    };
  }

  /** Enabled skills the user can use now (own first; shared ones not hidden or shadowed), by name. */
  async catalog(userId: string): Promise<Array<{ name: string; description: string; id: string }>> {
    const s = tables.skills;
    return this.db
      .select({ name: s.name, description: s.description, id: s.id })
      .from(s)
      .where(and(visibleTo(userId, false), eq(s.enabled, true)))
      .orderBy(asc(s.name), asc(s.id));
  }

  /**
   * One page of the catalog with every file's digest: what the Skills-over-MCP `skills/list` answer needs,
   * in three queries per page whatever the number of skills.
   */
  async catalogEntries(
    userId: string,
    cursor: string | undefined,
    limit: number,
  ): Promise<{
    entries: Array<{ skill: SkillRow; version: VersionRow; files: FileEntryView[] }>;
    nextCursor?: string;
  }> {
    const s = tables.skills;
    const rows = await this.db
      .select({ skill: s })
      .from(s)
      .where(
        pageOfVisible(userId, {
          own: true,
          shared: true,
          includeHidden: false,
          includeDisabled: false,
          also: [afterNameCursor(cursor)].filter((c): c is SQL => c !== undefined),
          limit: limit + 1,
        }),
      )
      .orderBy(asc(s.name), asc(s.id));
    const page = await this.withCurrentVersions(rows.slice(0, limit));
    const files = page.length
      ? await this.db
          .select()
          .from(tables.versionFiles)
          .where(
            inArray(
              tables.versionFiles.versionId,
              page.map((r) => r.version.id),
            ),
          )
          .orderBy(asc(tables.versionFiles.path))
      : [];
    const byVersion = new Map<string, FileEntryView[]>();
    for (const f of files) {
      const list = byVersion.get(f.versionId) ?? [];
      list.push(toFileEntryView(f));
      byVersion.set(f.versionId, list);
    }
    return {
      entries: page.map((r) => ({
        skill: r.skill,
        version: r.version,
        files: byVersion.get(r.version.id) ?? [],
      })),
      nextCursor: nextNameCursor(rows, limit) ?? undefined,
    };
  }

  /** An enabled skill with its current version and manifest, for the MCP tools. */
  async load(userId: string, name: string): Promise<LoadedSkill> {
    const skill = await this.resolve(this.db, userId, name, { enabledOnly: true });
    const version = await this.versionById(this.db, skill.currentVersionId!);
    return { skill, version, manifest: await this.manifest(this.db, version.id) };
  }

  /**
   * Contents of one file of a skill returned by `load` (which did the access checks): one query for the blob,
   * none for resolving the skill again.
   */
  async readLoadedFile(loaded: LoadedSkill, filePath: string): Promise<SkillFileContent> {
    const entry = loaded.manifest.find((m) => m.path === filePath);
    if (!entry)
      throw notFound(`No file "${filePath}" in version ${loaded.version.number} of "${loaded.skill.name}"`);
    return this.fileContent(entry);
  }

  private async fileContent(entry: {
    path: string;
    sha256: string;
    size: number;
    executable: boolean;
  }): Promise<SkillFileContent> {
    const data = (await this.blobs.get(this.db, entry.sha256)) ?? Buffer.alloc(0);
    return {
      path: entry.path,
      data,
      size: entry.size,
      executable: entry.executable,
      contentType: contentTypeFor(entry.path, data),
    };
  }

  async search(
    userId: string,
    q: string,
    limit: number,
  ): Promise<Array<{ name: string; description: string; score: number }>> {
    const tsquery = toTsQuery(q);
    if (!tsquery) return [];
    const s = tables.skills;
    const score = sql<number>`ts_rank_cd(${s.search}, ${tsquery})`;
    const rows = await this.db
      .select({ name: s.name, description: s.description, score })
      .from(s)
      .where(and(visibleTo(userId, false), eq(s.enabled, true), sql`${s.search} @@ ${tsquery}`))
      .orderBy(desc(score), asc(s.name))
      .limit(limit);
    return rows.map((r) => ({ ...r, score: Math.round(Number(r.score) * 1000) / 1000 }));
  }

  // ---- internals ------------------------------------------------------------------------------------------

  private async insertVersion(tx: Transaction, skill: SkillRow, pkg: SkillFiles, parsed: ParsedSkill) {
    const [{ next }] = (await tx
      .select({ next: sql<number>`coalesce(max(${tables.skillVersions.number}), 0) + 1` })
      .from(tables.skillVersions)
      .where(eq(tables.skillVersions.skillId, skill.id))) as [{ next: number }];
    const sizeBytes = pkg.files.reduce((n, f) => n + f.data.length, 0);
    const [version] = await tx
      .insert(tables.skillVersions)
      .values({
        skillId: skill.id,
        number: Number(next),
        label: parsed.metadata.version ?? null,
        frontmatter: parsed.frontmatter,
        warnings: parsed.warnings,
        fileCount: pkg.files.length,
        sizeBytes,
      })
      .returning();
    const digests = await this.storeBlobs(tx, skill.ownerId, pkg);
    const entries = pkg.files.map((f, i) => ({
      versionId: version!.id,
      path: f.path,
      sha256: digests[i]!,
      size: f.data.length,
      executable: f.executable,
    }));
    for (let i = 0; i < entries.length; i += 500) {
      await tx.insert(tables.versionFiles).values(entries.slice(i, i + 500));
    }
    await tx
      .update(tables.skills)
      .set({ currentVersionId: version!.id, description: parsed.description, updatedAt: new Date() })
      .where(eq(tables.skills.id, skill.id));
    await this.updateSearch(tx, skill.id, parsed.body);
    return version!;
  }

  /**
   * Stores the package's file contents and returns their digests in file order. Contents the uploader's own
   * versions already reference are not sent again (re-uploading a skill transfers only what changed); everything
   * else takes the full write path, whoever else may have stored the same bytes, so that an upload's timing
   * does not tell whether another user holds a file.
   */
  private async storeBlobs(tx: Transaction, ownerId: string, pkg: SkillFiles): Promise<string[]> {
    const digests: string[] = [];
    for (const f of pkg.files) digests.push(await digestOf(f.data));
    const owned = new Set<string>();
    const unique = [...new Set(digests)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await tx
        .selectDistinct({ sha256: tables.versionFiles.sha256 })
        .from(tables.versionFiles)
        .innerJoin(tables.skillVersions, eq(tables.skillVersions.id, tables.versionFiles.versionId))
        .innerJoin(tables.skills, eq(tables.skills.id, tables.skillVersions.skillId))
        .where(
          and(
            eq(tables.skills.ownerId, ownerId),
            inArray(tables.versionFiles.sha256, unique.slice(i, i + 500)),
          ),
        );
      for (const r of rows) owned.add(r.sha256);
    }
    // Every existing row is held until this transaction ends, all in one digest order (see blob-store.ts), so that
    // deleting the uploader's versions meanwhile cannot collect a blob this version is about to reference; one
    // collected just before is sent again.
    const present = await lockPresent(tx, unique);
    await this.blobs.putMany(
      tx,
      pkg.files.filter((_, i) => !(owned.has(digests[i]!) && present.has(digests[i]!))).map((f) => f.data),
    );
    return digests;
  }

  private async updateSearch(tx: Transaction, skillId: string, body: string) {
    const s = tables.skills;
    await tx
      .update(s)
      .set({
        search: sql`setweight(to_tsvector('simple', replace(${s.name}, '-', ' ')), 'A')
          || setweight(to_tsvector('english', ${s.description}), 'B')
          || setweight(to_tsvector('english', ${body.slice(0, SEARCH_BODY_CHARS)}), 'C')`,
      })
      .where(eq(s.id, skillId));
  }

  /** The SKILL.md body (without frontmatter) of a version; the search indexer reads it too. */
  async skillMdText(exec: Executor, versionId: string): Promise<string> {
    const [entry] = await exec
      .select({ sha256: tables.versionFiles.sha256 })
      .from(tables.versionFiles)
      .where(and(eq(tables.versionFiles.versionId, versionId), eq(tables.versionFiles.path, SKILL_MD)));
    const data = entry ? await this.blobs.get(exec, entry.sha256) : null;
    return data ? parseSkillMd(data.toString('utf8'), null).body : '';
  }

  private uploadResult(userId: string, skill: SkillRow, version: VersionRow): UploadResult {
    return {
      skill: toSkillView(skill, version, userId, false),
      version: toVersionView(version, version.id),
      warnings: version.warnings,
    };
  }

  /** The caller's own skill by name, or a shared one; hidden shared skills are found too (to unhide them). */
  private async resolve(
    exec: Executor,
    userId: string,
    name: string,
    opts: { enabledOnly?: boolean } = {},
  ): Promise<SkillRow> {
    const s = tables.skills;
    const where = [eq(s.name, name), visibleTo(userId, !opts.enabledOnly)];
    if (opts.enabledOnly) where.push(eq(s.enabled, true));
    const [row] = await exec
      .select()
      .from(s)
      .where(and(...where))
      .orderBy(desc(sql`${s.ownerId} = ${userId}`), asc(s.createdAt))
      .limit(1);
    if (!row) throw notFound(`No skill named "${name}"`);
    return row;
  }

  /** `resolve` for a credential: a skill it may not reach (its key's restriction) answers like a missing one. */
  private async resolveFor(
    actor: Principal,
    name: string,
    action: 'skills.read' | 'skills.manage',
  ): Promise<SkillRow> {
    authorize(actor, action, { name }, { asMissing: `No skill named "${name}"` });
    return this.resolve(this.db, actor.userId, name);
  }

  private async resolveVersion(actor: Principal, name: string, version: number | 'latest') {
    const userId = actor.userId;
    const skill = await this.resolveFor(actor, name, 'skills.read');
    if (version === 'latest')
      return { skill, version: await this.versionById(this.db, skill.currentVersionId!) };
    if (skill.ownerId === userId)
      return { skill, version: await this.versionByNumber(this.db, skill, version) };
    // Other users see only the current version of a shared skill: the earlier ones are the owner's history
    // (they may hold what the owner since removed). An earlier version and one that never existed answer the
    // same 404. listVersions applies the same rule.
    const current = await this.versionById(this.db, skill.currentVersionId!);
    if (current.number !== version) throw noSuchVersion(skill, version);
    return { skill, version: current };
  }

  private async findOwn(exec: Executor, userId: string, name: string): Promise<SkillRow | undefined> {
    const [row] = await exec
      .select()
      .from(tables.skills)
      .where(and(eq(tables.skills.ownerId, userId), eq(tables.skills.name, name)));
    return row;
  }

  private async ownSkillForUpdate(tx: Transaction, actor: Principal, name: string): Promise<SkillRow> {
    authorize(actor, 'skills.manage', { name }, { asMissing: `No skill named "${name}"` });
    const userId = actor.userId;
    const [row] = await tx
      .select()
      .from(tables.skills)
      .where(and(eq(tables.skills.ownerId, userId), eq(tables.skills.name, name)))
      .for('update');
    if (row) return row;
    // A shared skill of that name is visible but not the caller's to change.
    const shared = await this.resolve(tx, userId, name).catch(() => null);
    if (shared) throw forbidden('Shared skills are read-only');
    throw notFound(`No skill named "${name}"`);
  }

  /**
   * Adds each row's current version, read by primary key for the page only. Paged queries must not join
   * skill_versions: PostgreSQL then hash-joins the whole table (every user's versions) before sorting and
   * limiting the caller's candidate skills, so that a page of one user's skills gets slower as the database
   * grows (bench/skills.bench.ts: 3× slower with 100,000 skills in the database than with 10,000).
   */
  private async withCurrentVersions<T extends { skill: SkillRow }>(
    rows: T[],
  ): Promise<Array<T & { version: VersionRow }>> {
    if (!rows.length) return [];
    const versions = await this.db
      .select()
      .from(tables.skillVersions)
      .where(
        inArray(
          tables.skillVersions.id,
          rows.map((r) => r.skill.currentVersionId!),
        ),
      );
    const byId = new Map(versions.map((v) => [v.id, v]));
    return rows.flatMap((r) => {
      const version = byId.get(r.skill.currentVersionId!);
      return version ? [{ ...r, version }] : [];
    });
  }

  private async versionById(exec: Executor, id: string): Promise<VersionRow> {
    const [v] = await exec.select().from(tables.skillVersions).where(eq(tables.skillVersions.id, id));
    if (!v) throw notFound('Version not found');
    return v;
  }

  private async versionByNumber(exec: Executor, skill: SkillRow, number: number): Promise<VersionRow> {
    const [v] = await exec
      .select()
      .from(tables.skillVersions)
      .where(and(eq(tables.skillVersions.skillId, skill.id), eq(tables.skillVersions.number, number)));
    if (!v) throw noSuchVersion(skill, number);
    return v;
  }

  private async manifest(exec: Executor, versionId: string): Promise<FileEntryView[]> {
    const rows = await exec
      .select()
      .from(tables.versionFiles)
      .where(eq(tables.versionFiles.versionId, versionId))
      .orderBy(asc(tables.versionFiles.path));
    return rows.map(toFileEntryView);
  }

  private async isHidden(userId: string, skillId: string): Promise<boolean> {
    const rows = await this.db
      .select({ skillId: tables.hiddenSkills.skillId })
      .from(tables.hiddenSkills)
      .where(and(eq(tables.hiddenSkills.userId, userId), eq(tables.hiddenSkills.skillId, skillId)));
    return rows.length > 0;
  }

  private changed(userId: string, shared: boolean): void {
    this.events.emit('change', { userId: shared ? null : userId } satisfies SkillChange);
  }
}

const noSuchVersion = (skill: SkillRow, number: number) =>
  notFound(`No version ${number} of "${skill.name}"`);

/** Keyset pages in (name, id) order: the condition for rows after a cursor, and the cursor after a page. */
function afterNameCursor(cursor: string | undefined): SQL | undefined {
  const after = decodeCursor(cursor, z.object({ n: z.string().max(MAX_NAME_CURSOR), i: z.uuid() }));
  const s = tables.skills;
  return after ? sql`(${s.name}, ${s.id}) > (${after.n}, ${after.i})` : undefined;
}

function nextNameCursor(rows: Array<{ skill: SkillRow }>, limit: number): string | null {
  const last = rows[limit - 1];
  return rows.length > limit && last ? encodeCursor({ n: last.skill.name, i: last.skill.id }) : null;
}

/** The audit record of a change the caller made to one of their skills, inside the change's transaction. */
function auditSkill(
  tx: Transaction,
  principal: Principal,
  action: string,
  skill: { id: string },
  ip: string | null,
  details: Record<string, unknown>,
): Promise<number> {
  return recordAudit(tx, {
    actorId: principal.userId,
    action,
    target: `skill:${skill.id}`,
    result: 'success',
    ip,
    details,
  });
}

/**
 * The visibility rule, in one place: the caller's own skills, plus enabled shared skills of others that the
 * caller has no own skill of the same name for (and has not hidden, unless `includeHidden`). The search room
 * filters its queries with it too.
 */
export function visibleTo(userId: string, includeHidden: boolean): SQL {
  return sql`(${tables.skills.ownerId} = ${userId} or ${sharedWith(userId, includeHidden)})`;
}

/** The second half of visibleTo: another user's enabled shared skill the caller has no own skill of the name of. */
function sharedWith(userId: string, includeHidden: boolean): SQL {
  const s = tables.skills;
  const notHidden = includeHidden
    ? sql`true`
    : sql`not exists (select 1 from hidden_skills h where h.user_id = ${userId} and h.skill_id = ${s.id})`;
  return sql`(${s.shared} and ${s.enabled} and not exists (
      select 1 from skills o where o.owner_id = ${userId} and o.name = ${s.name}) and ${notHidden})`;
}

/**
 * `id in (…)` the ids of one keyset page of the skills visibleTo a user, in (name, id) order. The page is merged
 * from two runs that each read at most `limit` rows in index order: the user's own skills (the (owner_id, name)
 * index) and the shared ones (the partial index on shared names). A single `visibleTo` scan, as before, had to read
 * and sort every candidate row (all of the user's skills, with their wide tsvector, and the `hidden` flag of each)
 * to keep `limit` of them, and on the pages where shared skills can appear it hashed all of the user's own names
 * first; so the first page, which has every row ahead of it, cost most (issue 11: 19 ms against 5.5 ms for page 26
 * with 1,000 skills). Now every page reads about `limit` rows of each run. Same rows and order as visibleTo.
 */
function pageOfVisible(
  userId: string,
  o: {
    own: boolean;
    shared: boolean;
    includeHidden: boolean;
    includeDisabled: boolean;
    /** Conditions every row must meet as well: the cursor, a key's restriction. */
    also: SQL[];
    limit: number;
  },
): SQL {
  const s = tables.skills;
  const run = (condition: SQL) =>
    sql`(select ${s.id}, ${s.name} from ${s} where ${and(condition, isNotNull(s.currentVersionId), ...o.also)}
        order by ${s.name}, ${s.id} limit ${o.limit})`;
  const runs: SQL[] = [];
  if (o.own) {
    runs.push(
      run(o.includeDisabled ? sql`${s.ownerId} = ${userId}` : sql`${s.ownerId} = ${userId} and ${s.enabled}`),
    );
  }
  if (o.shared) runs.push(run(sql`${s.ownerId} <> ${userId} and ${sharedWith(userId, o.includeHidden)}`));
  if (!runs.length) return sql`false`;
  return sql`${s.id} in (select id from (${sql.join(runs, sql` union all `)}) page order by name, id limit ${o.limit})`;
}

/** Prefix-matching AND query from free text; null when the text has no searchable word. */
function toTsQuery(q: string): SQL | null {
  const words = (q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 16);
  if (!words.length) return null;
  return sql`to_tsquery('english', ${words.map((w) => `${w}:*`).join(' & ')})`;
}

function parsePackage(pkg: SkillFiles): ParsedSkill {
  const skillMd = pkg.files.find((f) => f.path === SKILL_MD);
  if (!skillMd)
    throw unprocessable('invalid_archive', 'SKILL.md not found at the skill root', { entry: SKILL_MD });
  return parseSkillMd(decodeUtf8Strict(skillMd.data), pkg.rootFolder);
}
