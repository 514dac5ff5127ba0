import type { EventEmitter } from 'node:events';
import { and, desc, eq, inArray, isNull } from 'drizzle-orm';
import { tables, type Database } from '../db/index.js';
import { recordAudit } from '../audit/index.js';
import { notFound } from '../shared/errors.js';
import type { Principal, TokenScope } from '../shared/principal.js';
import { recordKey } from './adapter.js';
import { may } from '../authz/index.js';
import { MCP_SCOPE } from './resource.js';

/** Bounds how long another instance may keep honouring a revoked token without hearing the event. */
const CACHE_TTL_MS = 5_000;
const CACHE_MAX_ENTRIES = 10_000;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;
/** oidc-provider's opaque token values: 43 url-safe characters (no dots, unlike a JWT; no `ask_live_`). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OPAQUE_TOKEN = /^[A-Za-z0-9_-]{32,128}$/;

export interface ConnectionView {
  id: string;
  client_id: string;
  client_name: string | null;
  resource: string;
  scopes: string[];
  restriction: { skills: string[] } | null;
  created_at: string;
  last_used_at: string | null;
}

export interface NewConnection {
  grantId: string;
  clientId: string;
  clientName: string | null;
  resource: string;
  restriction: { skills: string[] } | null;
}

interface CachedToken {
  userId: string;
  grantId: string;
  audience: string;
  principal: Principal;
  expiresAt: number;
  cachedUntil: number;
}

type ConnectionRow = typeof tables.oauthConnections.$inferSelect;
const toView = (r: ConnectionRow): ConnectionView => ({
  id: r.grantId,
  client_id: r.clientId,
  client_name: r.clientName,
  resource: r.resource,
  scopes: r.scopes,
  restriction: r.restriction ?? null,
  created_at: r.createdAt.toISOString(),
  last_used_at: r.lastUsedAt?.toISOString() ?? null,
});

/**
 * The user's side of OAuth: connected applications (one per approved grant) and what an access token is worth
 * at the MCP endpoint. A token resolves to a `Principal` with `via: 'oauth'`, the `mcp` scope only and the
 * skill restriction chosen on the consent page — the same model as an API key. Revocations and disabled users
 * reach every instance through `credentials-changed` on the API keys' event emitter (bridged over Redis).
 */
export class OAuthConnections {
  private readonly cache = new Map<string, CachedToken>();
  private readonly lastUsedWritten = new Map<string, number>();

  constructor(
    private readonly db: Database,
    /** `ApiTokens.events`: the one channel for "this user's credentials changed". */
    private readonly credentialEvents: EventEmitter,
  ) {
    credentialEvents.on('credentials-changed', (p: { userId?: unknown }) =>
      this.forgetUser(String(p.userId)),
    );
  }

  isOAuthToken(credential: string): boolean {
    return OPAQUE_TOKEN.test(credential);
  }

  /**
   * The principal of an access token, or null: unknown, expired, revoked, its user disabled, not issued for
   * `resource` (RFC 8707 audience), or asked for anything but MCP.
   */
  async resolve(token: string, scope: TokenScope, resource: string | undefined): Promise<Principal | null> {
    if (scope !== MCP_SCOPE || !resource || !this.isOAuthToken(token)) return null;
    const key = recordKey('AccessToken', token);
    const now = Date.now();
    let entry: CachedToken | null | undefined = this.cache.get(key);
    if (!entry || entry.cachedUntil <= now) {
      entry = await this.load(key, now);
      if (!entry) return null;
    }
    if (entry.expiresAt <= now || entry.audience !== resource) return null;
    this.touch(entry.grantId, now);
    return entry.principal;
  }

  /** Whether an account may sign in to the authorization server (it exists and is not disabled). */
  async userActive(userId: string): Promise<boolean> {
    if (!UUID.test(userId)) return false;
    const [row] = await this.db
      .select({ id: tables.users.id })
      .from(tables.users)
      .where(and(eq(tables.users.id, userId), isNull(tables.users.disabledAt)));
    return row !== undefined;
  }

  /** Records what the user approved; called when the consent is handed to the authorization server. */
  async create(actor: Principal, input: NewConnection, ip: string | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.insert(tables.oauthConnections).values({
        grantId: input.grantId,
        userId: actor.userId,
        clientId: input.clientId,
        clientName: input.clientName,
        resource: input.resource,
        scopes: [MCP_SCOPE],
        restriction: input.restriction,
      });
      await recordAudit(tx, {
        actorId: actor.userId,
        action: 'oauth.connect',
        target: `oauth_connection:${input.grantId}`,
        result: 'success',
        ip,
        details: { client_id: input.clientId, client_name: input.clientName, restriction: input.restriction },
      });
    });
  }

  /** The actor's connected applications whose grant is still alive, newest first. */
  async list(actor: Principal): Promise<ConnectionView[]> {
    const rows = await this.db
      .select()
      .from(tables.oauthConnections)
      .where(eq(tables.oauthConnections.userId, actor.userId))
      .orderBy(desc(tables.oauthConnections.createdAt))
      .limit(500);
    if (rows.length === 0) return [];
    const alive = await this.db
      .select({ key: tables.oauthRecords.key })
      .from(tables.oauthRecords)
      .where(
        inArray(
          tables.oauthRecords.key,
          rows.map((r) => recordKey('Grant', r.grantId)),
        ),
      );
    const aliveKeys = new Set(alive.map((a) => a.key));
    return rows.filter((r) => aliveKeys.has(recordKey('Grant', r.grantId))).map(toView);
  }

  /** Revokes a connection: its grant and every token of it, on every instance at once. */
  async revoke(actor: Principal, grantId: string, ip: string | null): Promise<void> {
    const [row] = await this.db
      .select()
      .from(tables.oauthConnections)
      .where(eq(tables.oauthConnections.grantId, grantId));
    if (!row || !may(actor, 'oauth.connections', row)) throw notFound('Connected application not found');
    await this.db.transaction(async (tx) => {
      await tx.delete(tables.oauthRecords).where(eq(tables.oauthRecords.grantId, grantId));
      await tx.delete(tables.oauthRecords).where(eq(tables.oauthRecords.key, recordKey('Grant', grantId)));
      await tx.delete(tables.oauthConnections).where(eq(tables.oauthConnections.grantId, grantId));
      await recordAudit(tx, {
        actorId: actor.userId,
        action: 'oauth.revoke',
        target: `oauth_connection:${grantId}`,
        result: 'success',
        ip,
        details: { client_id: row.clientId, client_name: row.clientName },
      });
    });
    this.credentialsChanged(row.userId);
  }

  /**
   * The authorization server revoked a grant itself: `reason` `token` = a refresh token or code was presented
   * again after use (reuse detection), `revocation` = the client revoked its refresh token. The connection goes
   * too, the event is audited, and every instance forgets its tokens.
   */
  async grantRevoked(grantId: string, reason: string, ip: string | null): Promise<void> {
    // Before anything is awaited: the library emits this while it answers the request that revoked the grant
    // (a refresh token's reuse, say), and the next request on this instance must not find the grant's tokens
    // in the cache. Other instances hear it through `credentials-changed` once the connection row is gone.
    for (const [key, entry] of this.cache) if (entry.grantId === grantId) this.cache.delete(key);
    const row = await this.db.transaction(async (tx) => {
      const [deleted] = await tx
        .delete(tables.oauthConnections)
        .where(eq(tables.oauthConnections.grantId, grantId))
        .returning();
      if (deleted) {
        await recordAudit(tx, {
          actorId: deleted.userId,
          action: 'oauth.revoke',
          target: `oauth_connection:${grantId}`,
          result: 'success',
          ip,
          details: {
            client_id: deleted.clientId,
            reason: reason === 'token' ? 'token_reuse' : 'client_revoked',
          },
        });
      }
      return deleted;
    });
    if (row) this.credentialsChanged(row.userId);
  }

  /** A single access token was revoked by its client: drop it here, and tell the other instances. */
  tokenRevoked(userId: string): void {
    this.credentialsChanged(userId);
  }

  private credentialsChanged(userId: string): void {
    this.forgetUser(userId);
    this.credentialEvents.emit('credentials-changed', { userId });
  }

  private forgetUser(userId: string): void {
    for (const [key, entry] of this.cache) if (entry.userId === userId) this.cache.delete(key);
  }

  private async load(key: string, now: number): Promise<CachedToken | null> {
    const [row] = await this.db
      .select({
        payload: tables.oauthRecords.payload,
        expiresAt: tables.oauthRecords.expiresAt,
        connection: tables.oauthConnections,
        userDisabledAt: tables.users.disabledAt,
      })
      .from(tables.oauthRecords)
      .innerJoin(tables.oauthConnections, eq(tables.oauthConnections.grantId, tables.oauthRecords.grantId))
      .innerJoin(tables.users, eq(tables.users.id, tables.oauthConnections.userId))
      .where(and(eq(tables.oauthRecords.key, key), eq(tables.oauthRecords.model, 'AccessToken')));
    this.cache.delete(key);
    if (!row || row.userDisabledAt || !row.expiresAt || row.expiresAt.getTime() <= now) return null;
    const { connection } = row;
    // The library stores the audience of a resource-bound token as `aud`; its scopes as a space-separated string.
    const audience = row.payload.aud;
    const scopes = String(row.payload.scope ?? '').split(' ');
    if (typeof audience !== 'string' || !scopes.includes(MCP_SCOPE)) return null;
    const entry: CachedToken = {
      userId: connection.userId,
      grantId: connection.grantId,
      audience,
      expiresAt: row.expiresAt.getTime(),
      cachedUntil: now + CACHE_TTL_MS,
      principal: {
        userId: connection.userId,
        isAdmin: false,
        via: 'oauth',
        tokenId: connection.grantId,
        scopes: [MCP_SCOPE],
        ...(connection.restriction ? { restriction: connection.restriction } : {}),
      },
    };
    if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, entry);
    return entry;
  }

  /** `last_used_at` is written at most once a minute per connection, off the request path. */
  private touch(grantId: string, now: number): void {
    const last = this.lastUsedWritten.get(grantId) ?? 0;
    if (now - last < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWritten.set(grantId, now);
    if (this.lastUsedWritten.size > CACHE_MAX_ENTRIES) this.lastUsedWritten.clear();
    void this.db
      .update(tables.oauthConnections)
      .set({ lastUsedAt: new Date(now) })
      .where(eq(tables.oauthConnections.grantId, grantId))
      .catch(() => undefined);
  }
}
