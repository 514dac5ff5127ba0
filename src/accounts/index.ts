/** Public surface of the accounts room: users, console sessions, API keys and resolving credentials. */
export { AccessTokens } from './access-tokens.js';
export {
  API_TOKEN_PREFIX,
  ApiTokens,
  keyWithScopes,
  type ApiTokenView,
  type NewApiKey,
} from './api-tokens.js';
export { Authenticator, type AuthFailure } from './authenticate.js';
export { AccountsService, type AccountDeletionHook, type AuthResult } from './service.js';
export type { UserView } from './views.js';
