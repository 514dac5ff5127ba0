import { authorize, may } from '../authz/index.js';
import { EventEmitter } from 'node:events';
import { and, desc, eq, getTableColumns, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import { tables, type Database, afterTimeId, cursorTime, timeIdCursor } from '../db/index.js';
import { badRequest, conflict, forbidden, notFound } from '../shared/errors.js';
import { randomHex, sha256Hex } from '../shared/crypto.js';
import { decodeCursor, toPage, type Page } from '../shared/pagination.js';
import type { LegacyTokenScope, Principal, TokenScope } from '../shared/principal.js';
import { recordAudit } from '../audit/index.js';

export const API_TOKEN_PREFIX = 'ask_live_';
const TOKEN_PATTERN = /^ask_live_[0-9a-f]{64}$/;
const DISPLAY_PREFIX_LENGTH = 12;
/** Bounds how long another instance may keep honouring a revoked token (this instance drops it at once). */
const CACHE_TTL_MS = 5_000;
const CACHE_MAX_ENTRIES = 10_000;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;
/** How long a change waits at most for the event bus to take its `credentials-changed` (Redis unreachable). */
const PROPAGATION_WAIT_MS = 2_000;

/** What an API key may do. Stored as one column each; `Principal.scopes` carries them past the edge. */
export interface KeyPermissions {
  can_manage: boolean;
  can_call_assistant: boolean;
  can_use_mcp: boolean;
  can_admin: boolean;
}
export const PERMISSION_NAMES = ['can_manage', 'can_call_assistant', 'can_use_mcp', 'can_admin'] as const;
/**
 * `skills`: only the tools of these skills (by name); `servers`: only the tools of these upstream MCP servers (by
 * name); a list left out does not restrict. `compact_tools`: the key is listed only the search meta-tools and
 * reaches the others through them (the "small context" mode; it grants nothing). Null on a key = no restriction.
 */
export interface KeyRestriction {
  skills?: string[];
  servers?: string[];
  compact_tools?: boolean;
}

export interface ApiTokenView extends KeyPermissions {
  id: string;
  name: string;
  prefix: string;
  /** The permissions in the old `/api/v1/tokens` shape (`api` = can_manage, `mcp` = can_use_mcp). */
  scopes: LegacyTokenScope[];
  assistant_ids: string[];
  restriction: KeyRestriction | null;
  is_disabled: boolean;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
  revoked_at: string | null;
}

export interface NewApiKey {
  name: string;
  permissions: KeyPermissions;
  assistantIds: string[];
  restriction: KeyRestriction | null;
  expiresAt: Date | null;
}

/**
 * A key in the old `/api/v1/tokens` terms, with their old meaning (what migration 0002 does to existing
 * tokens): `mcp` → can_use_mcp, `api` → can_manage and can_admin (an `api` token acted with all of its user's
 * REST powers, admin ones included whenever the user is an admin) — can_admin only if the creating credential
 * may grant it. `/api/v1/api-keys` gives can_admin only when asked.
 */
export function keyWithScopes(
  name: string,
  scopes: readonly LegacyTokenScope[],
  opts: { expiresAt?: Date | null; withAdmin?: boolean } = {},
): NewApiKey {
  const permissions = {
    can_manage: scopes.includes('api'),
    can_call_assistant: false,
    can_use_mcp: scopes.includes('mcp'),
    can_admin: scopes.includes('api') && opts.withAdmin === true,
  };
  return { name, permissions, assistantIds: [], restriction: null, expiresAt: opts.expiresAt ?? null };
}

export interface ApiKeyChanges {
  name?: string;
  permissions?: Partial<KeyPermissions>;
  assistantIds?: string[];
  restriction?: KeyRestriction | null;
  disabled?: boolean;
}

type TokenRow = typeof tables.apiTokens.$inferSelect;
const permissionsOf = (t: TokenRow): KeyPermissions => ({
  can_manage: t.canManage,
  can_call_assistant: t.canCallAssistant,
  can_use_mcp: t.canUseMcp,
  can_admin: t.canAdmin,
});
const permissionColumns = (p: KeyPermissions) => ({
  canManage: p.can_manage,
  canCallAssistant: p.can_call_assistant,
  canUseMcp: p.can_use_mcp,
  canAdmin: p.can_admin,
});
const scopesOf = (p: KeyPermissions): TokenScope[] => [
  ...(p.can_manage ? (['api'] as const) : []),
  ...(p.can_use_mcp ? (['mcp'] as const) : []),
  ...(p.can_call_assistant ? (['assistants'] as const) : []),
];

const toView = (t: TokenRow): ApiTokenView => {
  const permissions = permissionsOf(t);
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    ...permissions,
    scopes: scopesOf(permissions).filter((s): s is LegacyTokenScope => s !== 'assistants'),
    assistant_ids: t.assistantIds,
    restriction: t.restriction ?? null,
    is_disabled: t.disabledAt !== null,
    expires_at: t.expiresAt?.toISOString() ?? null,
    last_used_at: t.lastUsedAt?.toISOString() ?? null,
    created_at: t.createdAt.toISOString(),
    revoked_at: t.revokedAt?.toISOString() ?? null,
  };
};

/**
 * A key may be created or changed only within the powers of the credential doing it: it cannot grant a
 * permission it lacks (the `api-keys.grant` rule of `authz/`), and a restricted or
 * assistant-bound key can only set restrictions and bindings at least as narrow as its own. `granted` holds
 * the permissions being turned on; `restriction` and `assistantIds` are undefined when left unchanged.
 * (A console session holds all of its user's powers.)
 */
function assertGrantable(
  actor: Principal,
  granted: Partial<KeyPermissions>,
  scope: { restriction?: KeyRestriction | null; assistantIds?: string[] },
): void {
  const missing = PERMISSION_NAMES.filter((name) => granted[name] && !may(actor, 'api-keys.grant', name));
  if (missing.length > 0) throw forbidden(`This credential cannot grant ${missing.join(', ')}`);
  const ownSkills = actor.restriction?.skills;
  if (ownSkills && scope.restriction !== undefined) {
    const wanted = scope.restriction?.skills;
    if (!wanted || !wanted.every((s) => ownSkills.includes(s)))
      throw forbidden('This key is restricted to some skills: the keys it manages must stay within them');
  }
  const ownServers = actor.restriction?.servers;
  if (ownServers && scope.restriction !== undefined) {
    const wanted = scope.restriction?.servers;
    if (!wanted || !wanted.every((s) => ownServers.includes(s)))
      throw forbidden(
        'This key is restricted to some MCP servers: the keys it manages must stay within them',
      );
  }
  const ownAssistants = actor.assistantIds ?? [];
  if (ownAssistants.length > 0 && scope.assistantIds !== undefined) {
    const wanted = scope.assistantIds;
    if (wanted.length === 0 || !wanted.every((id) => ownAssistants.includes(id)))
      throw forbidden('This key is bound to some assistants: the keys it manages must stay within them');
  }
}

function assertUsable(p: KeyPermissions): void {
  if (!p.can_manage && !p.can_use_mcp && !p.can_call_assistant)
    throw badRequest('A key needs at least one of can_manage, can_use_mcp, can_call_assistant', {
      fields: [{ path: 'can_use_mcp', message: 'at least one permission is required' }],
    });
  if (p.can_admin && !p.can_manage)
    throw badRequest('can_admin needs can_manage (admin routes are REST routes)', {
      fields: [{ path: 'can_admin', message: 'requires can_manage' }],
    });
}

function normaliseRestriction(r: KeyRestriction | null): KeyRestriction | null {
  if (!r) return null;
  const out: KeyRestriction = {
    ...(r.skills ? { skills: [...new Set(r.skills)] } : {}),
    ...(r.servers ? { servers: [...new Set(r.servers)] } : {}),
    ...(r.compact_tools ? { compact_tools: true } : {}),
  };
  return Object.keys(out).length ? out : null;
}

/** A key's stored restriction as the tool layer reads it (`Principal.restriction`). */
function principalRestriction(r: KeyRestriction): NonNullable<Principal['restriction']> {
  return {
    ...(r.skills ? { skills: r.skills } : {}),
    ...(r.servers ? { servers: r.servers } : {}),
    ...(r.compact_tools ? { compactTools: true } : {}),
  };
}

function keyPrincipal(key: TokenRow, userIsAdmin: boolean): Principal {
  return {
    userId: key.userId,
    isAdmin: userIsAdmin && key.canAdmin,
    via: 'api_token',
    tokenId: key.id,
    scopes: scopesOf(permissionsOf(key)),
    ...(key.assistantIds.length > 0 ? { assistantIds: key.assistantIds } : {}),
    ...(key.restriction ? { restriction: principalRestriction(key.restriction) } : {}),
  };
}

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
  /**
   * Checks that the assistant ids given to a key name assistants its owner can see (set by the composition
   * root: accounts does not know assistants). Throws `bad_request` otherwise.
   */
  checkAssistantIds: (actor: Principal, ids: readonly string[]) => Promise<void> = async () => undefined;
  private readonly cache = new Map<string, CachedToken>();
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly pendingWrites = new Set<Promise<unknown>>();
  /** How to wait until the changes emitted so far reached the other instances (set by the composition root). */
  private propagation: () => Promise<void> = async () => undefined;

  constructor(private readonly db: Database) {
    this.events.setMaxListeners(0);
  }

  async create(
    principal: Principal,
    input: NewApiKey,
    ip: string | null,
  ): Promise<ApiTokenView & { token: string }> {
    authorize(principal, 'api-keys.create');
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw badRequest('Expiry must be in the future', {
        fields: [{ path: 'expires_at', message: 'must be in the future' }],
      });
    }
    assertUsable(input.permissions);
    const assistantIds = [...new Set(input.assistantIds)];
    const restriction = normaliseRestriction(input.restriction);
    assertGrantable(principal, input.permissions, { restriction, assistantIds });
    await this.checkAssistantIds(principal, assistantIds);
    const token = API_TOKEN_PREFIX + randomHex(32);
    const row = await this.db.transaction(async (tx) => {
      const [created] = await tx
        .insert(tables.apiTokens)
        .values({
          userId: principal.userId,
          name: input.name,
          tokenHash: sha256Hex(token),
          prefix: token.slice(0, DISPLAY_PREFIX_LENGTH),
          ...permissionColumns(input.permissions),
          assistantIds,
          restriction,
          expiresAt: input.expiresAt,
        })
        .returning();
      const view = toView(created!);
      await recordAudit(tx, {
        actorId: principal.userId,
        action: 'token.create',
        target: `token:${created!.id}`,
        result: 'success',
        ip,
        details: {
          name: input.name,
          scopes: view.scopes,
          ...input.permissions,
          assistant_ids: assistantIds,
          restriction,
        },
      });
      return created!;
    });
    return { ...toView(row), token };
  }

  /**
   * Renames a key, changes its permissions, assistants or restriction, or disables/enables it. Every instance
   * stops honouring the old state at once (the same path as revocation). A revoked key cannot be changed.
   */
  async update(
    principal: Principal,
    tokenId: string,
    changes: ApiKeyChanges,
    ip: string | null,
  ): Promise<ApiTokenView> {
    authorize(principal, 'api-keys.update');
    const t = tables.apiTokens;
    if (changes.assistantIds) await this.checkAssistantIds(principal, changes.assistantIds);
    const updated = await this.db.transaction(async (tx) => {
      const [current] = await tx
        .select()
        .from(t)
        .where(and(eq(t.id, tokenId), eq(t.userId, principal.userId)))
        .for('update');
      if (!current) throw notFound('API key not found');
      if (current.revokedAt) throw conflict('This API key is revoked; it cannot be changed');
      const before = permissionsOf(current);
      const permissions = { ...before, ...changes.permissions };
      assertUsable(permissions);
      const granted = Object.fromEntries(PERMISSION_NAMES.map((n) => [n, permissions[n] && !before[n]]));
      const restriction =
        changes.restriction === undefined ? undefined : normaliseRestriction(changes.restriction);
      const assistantIds = changes.assistantIds && [...new Set(changes.assistantIds)];
      assertGrantable(principal, granted, { restriction, assistantIds });
      const disabledAt =
        changes.disabled === undefined
          ? undefined
          : changes.disabled
            ? (current.disabledAt ?? new Date())
            : null;
      const [row] = await tx
        .update(t)
        .set({
          name: changes.name,
          ...permissionColumns(permissions),
          assistantIds,
          restriction,
          disabledAt,
          updatedAt: new Date(),
        })
        .where(eq(t.id, tokenId))
        .returning();
      await recordAudit(tx, {
        actorId: principal.userId,
        action: 'token.update',
        target: `token:${tokenId}`,
        result: 'success',
        ip,
        details: {
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...changes.permissions,
          ...(assistantIds ? { assistant_ids: assistantIds } : {}),
          ...(restriction !== undefined ? { restriction } : {}),
          ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
        },
      });
      return row!;
    });
    await this.forgetKey(updated.tokenHash, principal.userId);
    return toView(updated);
  }

  async list(actor: Principal, query: { cursor?: string; limit: number }): Promise<Page<ApiTokenView>> {
    authorize(actor, 'api-keys.list');
    const after = decodeCursor(query.cursor, timeIdCursor);
    const t = tables.apiTokens;
    const where: SQL[] = [eq(t.userId, actor.userId)];
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
    authorize(principal, 'api-keys.revoke');
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
    await this.forgetKey(revoked.hash, principal.userId);
  }

  /** Drops a changed key from this instance's cache and tells every instance (and open streams) at once. */
  private async forgetKey(hash: string, userId: string): Promise<void> {
    this.cache.delete(hash);
    this.events.emit('credentials-changed', { userId });
    await this.propagation();
  }

  /**
   * Resolves a presented key to its principal, or null when it is unknown, revoked, disabled, expired or its
   * user disabled.
   */
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

  /**
   * Drops cached entries of one user (disabled, enabled, deleted, promoted, sessions ended) and tells listeners.
   * Resolves once the event has reached the other instances' event bus (see `propagateWith`), so that the request
   * that made the change answers only after every instance can hear of it.
   */
  async invalidateUser(userId: string): Promise<void> {
    this.forgetUser(userId);
    this.events.emit('credentials-changed', { userId });
    await this.propagation();
  }

  /**
   * Registers how to wait until `credentials-changed` events emitted so far were handed to the other instances
   * (the Redis bus). Failures are the bus's to report, and a bus that does not answer holds the request at most
   * PROPAGATION_WAIT_MS: the TTL still bounds how long another instance may honour a changed credential.
   */
  propagateWith(wait: () => Promise<void>): void {
    this.propagation = () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, PROPAGATION_WAIT_MS)));
      return Promise.race([wait().catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
    };
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
        key: tables.apiTokens,
        isAdmin: tables.users.isAdmin,
        userDisabledAt: tables.users.disabledAt,
      })
      .from(tables.apiTokens)
      .innerJoin(tables.users, eq(tables.users.id, tables.apiTokens.userId))
      .where(eq(tables.apiTokens.tokenHash, hash));
    const key = row?.key;
    const entry: CachedToken = {
      userId: key?.userId ?? null,
      principal:
        key && !key.revokedAt && !key.disabledAt && !row.userDisabledAt
          ? keyPrincipal(key, row.isAdmin)
          : null,
      expiresAt: key?.expiresAt?.getTime() ?? null,
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
