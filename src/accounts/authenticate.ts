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
 * Resolves an `Authorization` header to a principal. API tokens must carry `scope`; console sessions (JWT)
 * may call everything. Every failure is reported the same way to the caller, whatever the reason.
 */
export class Authenticator {
  constructor(
    private readonly accessTokens: AccessTokens,
    private readonly apiTokens: ApiTokens,
    private readonly accounts: AccountsService,
    private readonly oauth?: OAuthTokenResolver,
  ) {}

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
    const principal = claims ? await this.accounts.sessionPrincipal(claims.userId, claims.sessionId) : null;
    return principal ? { principal } : { failure: 'invalid' };
  }
}
