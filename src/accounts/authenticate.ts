import type { Principal, TokenScope } from '../shared/principal.js';
import type { AccessTokens } from './access-tokens.js';
import { API_TOKEN_PREFIX, type ApiTokens } from './api-tokens.js';
import type { AccountsService } from './service.js';

export type AuthFailure = 'missing' | 'invalid' | 'insufficient_scope';

/** Resolves an OAuth access token (oauth/ room); only for `scope` on the `resource` it was issued for. */
export interface OAuthTokenResolver {
  isOAuthToken(credential: string): boolean;
  resolve(token: string, scope: TokenScope, resource: string | undefined): Promise<Principal | null>;
}

/**
 * How long a console session's principal is reused without asking the database. Every change that ends a session
 * or alters its user drops it at once here and, through `credentials-changed` on the event bus, on every other
 * instance before the changing request answers; the TTL bounds what no event reports (a refresh-token family
 * reaching its expiry, an instance without Redis).
 */
const SESSION_CACHE_TTL_MS = 5_000;
const SESSION_CACHE_MAX_ENTRIES = 10_000;

interface CachedSession {
  userId: string;
  principal: Principal | null;
  cachedUntil: number;
}

/**
 * Resolves an `Authorization` header to a principal. API tokens must carry `scope`; console sessions (JWT)
 * may call everything. Every failure is reported the same way to the caller, whatever the reason.
 */
export class Authenticator {
  /** Console sessions by `userId \0 sessionId` (a JWT's signature is checked on every request regardless). */
  private readonly sessions = new Map<string, CachedSession>();
  /** Bumped by every invalidation: a database read that overlapped one is not cached (it may predate it). */
  private generation = 0;

  constructor(
    private readonly accessTokens: AccessTokens,
    private readonly apiTokens: ApiTokens,
    private readonly accounts: AccountsService,
    private readonly oauth?: OAuthTokenResolver,
  ) {
    // Local changes and (bridged by the composition root) other instances' changes alike.
    apiTokens.events.on('credentials-changed', ({ userId }: { userId: string }) => this.forgetUser(userId));
  }

  async resolve(
    header: string | undefined,
    scope: TokenScope,
    /** The RFC 8707 resource the request is for (the MCP endpoint); OAuth tokens are refused without it. */
    resource?: string,
  ): Promise<{ principal: Principal } | { failure: AuthFailure }> {
    if (!header) return { failure: 'missing' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return { failure: 'invalid' };
    const credential = match[1]!;
    if (credential.startsWith(API_TOKEN_PREFIX)) {
      const principal = await this.apiTokens.authenticate(credential);
      if (!principal) return { failure: 'invalid' };
      if (!principal.scopes.includes(scope)) return { failure: 'insufficient_scope' };
      return { principal };
    }
    if (this.oauth?.isOAuthToken(credential)) {
      const principal = await this.oauth.resolve(credential, scope, resource);
      return principal ? { principal } : { failure: 'invalid' };
    }
    const claims = await this.accessTokens.verify(credential);
    const principal = claims ? await this.sessionPrincipal(claims.userId, claims.sessionId) : null;
    return principal ? { principal } : { failure: 'invalid' };
  }

  private async sessionPrincipal(userId: string, sessionId: string): Promise<Principal | null> {
    const key = `${userId}\0${sessionId}`;
    const now = Date.now();
    const cached = this.sessions.get(key);
    if (cached && cached.cachedUntil > now) return cached.principal;
    const generation = this.generation;
    const principal = await this.accounts.sessionPrincipal(userId, sessionId);
    if (generation === this.generation) {
      if (this.sessions.size >= SESSION_CACHE_MAX_ENTRIES) this.sessions.clear();
      this.sessions.set(key, { userId, principal, cachedUntil: now + SESSION_CACHE_TTL_MS });
    }
    return principal;
  }

  private forgetUser(userId: string): void {
    this.generation++;
    for (const [key, entry] of this.sessions) {
      if (entry.userId === userId) this.sessions.delete(key);
    }
  }
}
