import { EventEmitter } from 'node:events';
import { and, desc, eq, getTableColumns, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import { tables, type Database } from '../db/index.js';
import { afterTimeId, cursorTime, timeIdCursor } from '../db/keyset.js';
import { badRequest, notFound } from '../shared/errors.js';
import { randomHex, sha256Hex } from '../shared/crypto.js';
import { decodeCursor, toPage, type Page } from '../shared/pagination.js';
import type { Principal, TokenScope } from '../shared/principal.js';
import { recordAudit } from '../audit/service.js';

export const API_TOKEN_PREFIX = 'ask_live_';
const TOKEN_PATTERN = /^ask_live_[0-9a-f]{64}$/;
const DISPLAY_PREFIX_LENGTH = 12;
/** Bounds how long another instance may keep honouring a revoked token (this instance drops it at once). */
const CACHE_TTL_MS = 5_000;
const CACHE_MAX_ENTRIES = 10_000;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

export interface ApiTokenView {
  id: string;
  name: string;
  prefix: string;
  scopes: TokenScope[];
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
  revoked_at: string | null;
}

type TokenRow = typeof tables.apiTokens.$inferSelect;
const toView = (t: TokenRow): ApiTokenView => ({
  id: t.id,
  name: t.name,
  prefix: t.prefix,
  scopes: t.scopes as TokenScope[],
  expires_at: t.expiresAt?.toISOString() ?? null,
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
  created_at: t.createdAt.toISOString(),
  revoked_at: t.revokedAt?.toISOString() ?? null,
});

interface CachedToken {
  /** Kept for negative entries too, so that enabling a user also drops the "disabled" answers cached for them. */
  userId: string | null;
  principal: Principal | null;
  expiresAt: number | null;
  cachedUntil: number;
}

/**
 * Personal API tokens: `ask_live_` + 64 hex. Only the SHA-256 is stored, so lookup is by hash (an index hit,
 * no secret comparison in application code). A short in-process cache keeps the hot MCP path off the database.
 */
export class ApiTokens {
  /**
   * Emits `credentials-changed` with `{ userId }` when a token is revoked or a user's access changes, so
   * long-lived streams (legacy SSE) can re-check their credentials at once.
   */
  readonly events = new EventEmitter();
  private readonly cache = new Map<string, CachedToken>();
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly pendingWrites = new Set<Promise<unknown>>();

  constructor(private readonly db: Database) {
    this.events.setMaxListeners(0);
  }

  async create(
    principal: Principal,
    input: { name: string; scopes: TokenScope[]; expiresAt: Date | null },
    ip: string | null,
  ): Promise<ApiTokenView & { token: string }> {
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw badRequest('Expiry must be in the future', {
        fields: [{ path: 'expires_at', message: 'must be in the future' }],
      });
    }
    const token = API_TOKEN_PREFIX + randomHex(32);
    const row = await this.db.transaction(async (tx) => {
      const [created] = await tx
        .insert(tables.apiTokens)
        .values({
          userId: principal.userId,
          name: input.name,
          tokenHash: sha256Hex(token),
          prefix: token.slice(0, DISPLAY_PREFIX_LENGTH),
          scopes: [...new Set(input.scopes)],
          expiresAt: input.expiresAt,
        })
        .returning();
      await recordAudit(tx, {
        actorId: principal.userId,
        action: 'token.create',
        target: `token:${created!.id}`,
        result: 'success',
        ip,
        details: { name: input.name, scopes: input.scopes },
      });
      return created!;
    });
    return { ...toView(row), token };
  }

  async list(userId: string, query: { cursor?: string; limit: number }): Promise<Page<ApiTokenView>> {
    const after = decodeCursor(query.cursor, timeIdCursor);
    const t = tables.apiTokens;
    const where: SQL[] = [eq(t.userId, userId)];
    if (after) where.push(afterTimeId(t.createdAt, t.id, after, 'desc'));
    const rows = await this.db
      .select({ ...getTableColumns(t), cursorAt: cursorTime(t.createdAt) })
      .from(t)
      .where(and(...where))
      .orderBy(desc(t.createdAt), desc(t.id))
      .limit(query.limit + 1);
    return toPage(rows, query.limit, toView, (r) => [r.cursorAt, r.id]);
  }

  async revoke(principal: Principal, tokenId: string, ip: string | null): Promise<void> {
    const revoked = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(tables.apiTokens)
        .set({ revokedAt: new Date(), updatedAt: new Date() })
        .where(
          and(
            eq(tables.apiTokens.id, tokenId),
            eq(tables.apiTokens.userId, principal.userId),
            isNull(tables.apiTokens.revokedAt),
          ),
        )
        .returning({ id: tables.apiTokens.id, hash: tables.apiTokens.tokenHash });
      if (!row) return null;
      await recordAudit(tx, {
        actorId: principal.userId,
        action: 'token.revoke',
        target: `token:${tokenId}`,
        result: 'success',
        ip,
      });
      return row;
    });
    if (!revoked) throw notFound('Token not found');
    this.cache.delete(revoked.hash);
    this.events.emit('credentials-changed', { userId: principal.userId });
  }

  /** Resolves a presented token to its principal, or null when it is unknown, revoked, expired or its user disabled. */
  async authenticate(presented: string): Promise<Principal | null> {
    if (!TOKEN_PATTERN.test(presented)) return null;
    const hash = sha256Hex(presented);
    const now = Date.now();
    let entry = this.cache.get(hash);
    if (!entry || entry.cachedUntil <= now) {
      entry = await this.load(hash, now);
    }
    if (!entry.principal || (entry.expiresAt !== null && entry.expiresAt <= now)) return null;
    this.touch(entry.principal.tokenId!, now);
    return entry.principal;
  }

  /** Drops cached entries of one user (disabled, enabled, deleted, promoted) and tells listeners. */
  invalidateUser(userId: string): void {
    this.forgetUser(userId);
    this.events.emit('credentials-changed', { userId });
  }

  /** Drops this instance's cached entries of one user (also when another instance reports a change). */
  forgetUser(userId: string): void {
    for (const [hash, entry] of this.cache) {
      if (entry.userId === userId) this.cache.delete(hash);
    }
  }

  /** Resolves once the background last_used_at writes started so far have finished (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.pendingWrites]);
  }

  private async load(hash: string, now: number): Promise<CachedToken> {
    const [row] = await this.db
      .select({
        id: tables.apiTokens.id,
        userId: tables.apiTokens.userId,
        scopes: tables.apiTokens.scopes,
        expiresAt: tables.apiTokens.expiresAt,
        revokedAt: tables.apiTokens.revokedAt,
        isAdmin: tables.users.isAdmin,
        disabledAt: tables.users.disabledAt,
      })
      .from(tables.apiTokens)
      .innerJoin(tables.users, eq(tables.users.id, tables.apiTokens.userId))
      .where(eq(tables.apiTokens.tokenHash, hash));
    const entry: CachedToken = {
      userId: row?.userId ?? null,
      principal:
        row && !row.revokedAt && !row.disabledAt
          ? {
              userId: row.userId,
              isAdmin: row.isAdmin,
              via: 'api_token',
              tokenId: row.id,
              scopes: row.scopes as TokenScope[],
            }
          : null,
      expiresAt: row?.expiresAt?.getTime() ?? null,
      cachedUntil: now + CACHE_TTL_MS,
    };
    if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
    this.cache.set(hash, entry);
    return entry;
  }

  /** Writes last_used_at at most once a minute per token; the SQL guard keeps that true across instances. */
  private touch(tokenId: string, now: number): void {
    const last = this.lastUsedWritten.get(tokenId) ?? 0;
    if (now - last < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWritten.set(tokenId, now);
    if (this.lastUsedWritten.size > CACHE_MAX_ENTRIES) this.lastUsedWritten.clear();
    const t = tables.apiTokens;
    const write = this.db
      .update(t)
      .set({ lastUsedAt: new Date(now) })
      .where(
        and(eq(t.id, tokenId), or(isNull(t.lastUsedAt), lt(t.lastUsedAt, sql`now() - interval '1 minute'`))),
      )
      .then(
        () => undefined,
        () => undefined,
      );
    this.pendingWrites.add(write);
    void write.finally(() => this.pendingWrites.delete(write));
  }
}
