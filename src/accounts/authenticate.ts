import type { Principal, TokenScope } from '../shared/principal.js';
import type { AccessTokens } from './access-tokens.js';
import { API_TOKEN_PREFIX, type ApiTokens } from './api-tokens.js';
import type { AccountsService } from './service.js';

export type AuthFailure = 'missing' | 'invalid' | 'insufficient_scope';

/**
 * Resolves an `Authorization` header to a principal. API tokens must carry `scope`; console sessions (JWT)
 * may call everything. Every failure is reported the same way to the caller, whatever the reason.
 */
export class Authenticator {
  constructor(
    private readonly accessTokens: AccessTokens,
    private readonly apiTokens: ApiTokens,
    private readonly accounts: AccountsService,
  ) {}

  async resolve(
    header: string | undefined,
    scope: TokenScope,
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
    const claims = await this.accessTokens.verify(credential);
    const principal = claims ? await this.accounts.sessionPrincipal(claims.userId, claims.sessionId) : null;
    return principal ? { principal } : { failure: 'invalid' };
  }
}
