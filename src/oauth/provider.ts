import { restoreConsoleWarn } from './runtime-notice.js';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../db/index.js';
import type { SecretBox } from '../shared/secrets.js';
import { DatabaseAdapter } from './adapter.js';
import { oauthKeys } from './keys.js';
import { clientAllowed } from './policy.js';
import { interactionPath, MCP_SCOPE, mcpResource, OAUTH_PREFIX } from './resource.js';
import { guardedFetch } from './ssrf.js';

restoreConsoleWarn();

export const ACCESS_TOKEN_TTL_SECONDS = 3600;
const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
/** The time a user has between the client's redirect and approving (login included). */
const INTERACTION_TTL_SECONDS = 15 * 60;

export interface ProviderDeps {
  db: Database;
  box: SecretBox;
  secretKey: string;
  trustProxy: boolean;
  /** Whether a user id names an account that may sign in (exists, not disabled). */
  accountActive(userId: string): Promise<boolean>;
  /** The admins' allowed client list (empty = any). */
  allowedClients(): Promise<readonly string[]>;
  /** Outbound fetch for Client ID Metadata Documents; the library adds its SSRF guard, time and size limits. */
  fetch?: typeof fetch;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page a browser sees when the library cannot redirect back to the client (unknown client, bad URI…). */
const errorPage = (error: string, description: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorization failed</title></head>` +
  `<body><h1>Authorization failed</h1><p><code>${escapeHtml(error)}</code>: ${escapeHtml(description)}</p>` +
  `<p>Go back to the application and try again, or ask its vendor.</p></body></html>`;

/**
 * The authorization server for one public origin (`base` = issuer): oidc-provider, configured for what the MCP
 * authorization specification asks — authorization code with PKCE S256 only, opaque access tokens bound to the
 * MCP resource (RFC 8707), rotating refresh tokens whose reuse revokes the grant, registration by Client ID
 * Metadata Document or RFC 7591 — with its storage in our database and its keys derived from SECRET_KEY.
 */
export function buildProvider(base: string, deps: ProviderDeps): Provider {
  const resource = mcpResource(base);
  const { cookieKeys, signingKey } = oauthKeys(deps.secretKey);
  const configuration: Configuration = {
    adapter: (model: string) => new DatabaseAdapter(model, deps.db, deps.box),
    clients: [],
    jwks: { keys: [signingKey] },
    cookies: { keys: cookieKeys },
    findAccount: async (_ctx, id) =>
      (await deps.accountActive(id)) ? { accountId: id, claims: () => ({ sub: id }) } : undefined,
    scopes: [MCP_SCOPE, 'offline_access'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
    },
    // Every authorization is shown to the user: a client's earlier approval is not reused silently.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_SECONDS,
      AuthorizationCode: 60,
      RefreshToken: REFRESH_TOKEN_TTL_SECONDS,
      Grant: REFRESH_TOKEN_TTL_SECONDS,
      Interaction: INTERACTION_TTL_SECONDS,
      Session: INTERACTION_TTL_SECONDS,
      IdToken: 3600,
    },
    interactions: { url: (_ctx, interaction) => interactionPath(interaction.uid) },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(String(out.error), String(out.error_description ?? ''));
    },
    routes: {
      authorization: `${OAUTH_PREFIX}/authorize`,
      token: `${OAUTH_PREFIX}/token`,
      registration: `${OAUTH_PREFIX}/register`,
      revocation: `${OAUTH_PREFIX}/revoke`,
      jwks: `${OAUTH_PREFIX}/jwks`,
      userinfo: `${OAUTH_PREFIX}/userinfo`,
      end_session: `${OAUTH_PREFIX}/logout`,
      introspection: `${OAUTH_PREFIX}/introspect`,
    },
    features: {
      devInteractions: { enabled: false },
      // A client may revoke only its own tokens (RFC 7009 §2.1).
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      registration: { enabled: true, initialAccessToken: false },
      clientIdMetadataDocument: {
        enabled: true,
        ack: 'draft-02',
        allowFetch: async (_ctx, clientId) => clientAllowed(await deps.allowedClients(), clientId),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, indicator: string) => {
          // Tokens are issued for this server's MCP endpoint only; anything else is `invalid_target`.
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: MCP_SCOPE,
            audience: resource,
            accessTokenTTL: ACCESS_TOKEN_TTL_SECONDS,
            accessTokenFormat: 'opaque',
          };
        },
      },
    },
    fetch: deps.fetch ?? guardedFetch,
  };
  const provider = new Provider(base, configuration);
  provider.proxy = deps.trustProxy;
  return provider;
}
