import { createRoute } from '@hono/zod-openapi';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Hono } from 'hono';
import type { Authenticator } from '../accounts/index.js';
import {
  bearerSecurity,
  createRouter,
  errorResponse,
  errorResponses,
  json,
  jsonBody,
  requirePermission,
  z,
  type AppEnv,
} from '../http/index.js';
import type { OAuthConnections } from './connections.js';
import { clientAllowed } from './policy.js';
import { OAUTH_PREFIX, PROTECTED_RESOURCE_PATH, protectedResourceMetadata, publicBase } from './resource.js';
import type { OAuthServer } from './server.js';

interface OAuthMountDeps {
  oauth: OAuthServer;
  publicUrl: string | undefined;
}

const baseOf = (c: Context<AppEnv>, publicUrl: string | undefined) => publicBase(publicUrl, c.req.url);

/**
 * The protocol side, outside `/api`: Protected Resource Metadata (RFC 9728, bare and `/mcp`-suffixed), the
 * authorization server's metadata (RFC 8414 and OpenID discovery) and its endpoints under `/oauth`, all served
 * by oidc-provider on Node's request and response (its own Koa app), plus the consent hand-over.
 */
export function mountOAuth(app: Hono<AppEnv>, { oauth, publicUrl }: OAuthMountDeps): void {
  const resourceMetadata = (c: Context<AppEnv>) => {
    c.header('Access-Control-Allow-Origin', '*');
    return c.json(protectedResourceMetadata(baseOf(c, publicUrl)));
  };
  app.get(PROTECTED_RESOURCE_PATH, resourceMetadata);
  app.get(`${PROTECTED_RESOURCE_PATH}/mcp`, resourceMetadata);
  app.get(`${PROTECTED_RESOURCE_PATH}/sse`, resourceMetadata);

  const toProvider = async (c: Context<AppEnv>, path?: string) => {
    const provider = await oauth.providerFor(baseOf(c, publicUrl));
    if (path) c.env.incoming.url = path;
    await provider.callback()(c.env.incoming, c.env.outgoing);
    return RESPONSE_ALREADY_SENT;
  };
  // RFC 8414 for an issuer without a path is the same document as OpenID discovery.
  app.get('/.well-known/oauth-authorization-server', (c) =>
    toProvider(c, '/.well-known/openid-configuration'),
  );
  app.get('/.well-known/openid-configuration', (c) => toProvider(c));

  app.get(`${OAUTH_PREFIX}/interaction/:uid`, (c) =>
    c.redirect(`/authorize/${encodeURIComponent(c.req.param('uid'))}`, 303),
  );
  app.get(`${OAUTH_PREFIX}/interaction/:uid/finish`, async (c) => {
    const ticket = c.req.query('ticket') ?? '';
    await oauth.finish(baseOf(c, publicUrl), c.req.param('uid'), ticket, c.env, c.get('clientIp'));
    return RESPONSE_ALREADY_SENT;
  });
  app.post(`${OAUTH_PREFIX}/register`, async (c) => {
    const admitted = await oauth.admitRegistration(c.get('clientIp'));
    if (admitted.ok) return toProvider(c);
    if (admitted.status === 429) {
      c.header('Retry-After', String(admitted.retryAfter ?? 60));
      return c.json({ error: 'slow_down', error_description: 'Too many registrations; try later' }, 429);
    }
    return c.json(
      { error: 'access_denied', error_description: 'Dynamic client registration is turned off here' },
      403,
    );
  });
  app.on(['GET', 'POST'], `${OAUTH_PREFIX}/authorize`, async (c) => {
    const clientId = c.req.query('client_id');
    if (clientId && !clientAllowed((await oauth.settings()).oauth_allowed_clients, clientId)) {
      return errorResponse(c, 403, 'forbidden', 'An administrator has not allowed this client');
    }
    return toProvider(c);
  });
  app.all(`${OAUTH_PREFIX}/*`, (c) => toProvider(c));
}

const Uid = z.object({
  uid: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[\w-]+$/),
});
const Restriction = z
  .object({ skills: z.array(z.string().trim().min(1).max(64)).max(100) })
  .nullable()
  .openapi({ description: 'Null = every skill; `skills` = only these skills (as on API keys)' });
const AuthorizationRequest = z
  .object({
    client: z.object({
      id: z.string(),
      name: z.string().nullable(),
      uri: z.string().nullable(),
      logo_uri: z.string().nullable(),
      registration: z.enum(['metadata_document', 'dynamic']),
    }),
    redirect_uri: z.string(),
    resource: z.string().openapi({ description: 'The MCP endpoint the access is for (RFC 8707)' }),
    scopes: z.array(z.string()),
  })
  .openapi('OAuthAuthorizationRequest');
const Decision = z
  .object({ approve: z.boolean(), restriction: Restriction.default(null) })
  .openapi('OAuthDecision');
const Connection = z
  .object({
    id: z.string(),
    client_id: z.string(),
    client_name: z.string().nullable(),
    resource: z.string(),
    scopes: z.array(z.string()),
    restriction: Restriction,
    created_at: z.string(),
    last_used_at: z.string().nullable(),
  })
  .openapi('OAuthConnection');

/** The console's side: the consent page's request and decision, and the connected applications. */
export function oauthRoutes(deps: {
  oauth: OAuthServer;
  oauthConnections: OAuthConnections;
  auth: Authenticator;
  config: { PUBLIC_URL?: string };
}) {
  const app = createRouter();
  const approver = requirePermission(deps.auth, 'oauth.approve');
  const owner = requirePermission(deps.auth, 'oauth.connections');
  const base = (c: Context<AppEnv>) => baseOf(c, deps.config.PUBLIC_URL);
  app.openapi(
    createRoute({
      method: 'get',
      path: '/oauth/authorizations/{uid}',
      tags: ['oauth'],
      summary: 'A pending OAuth authorization: which client asks for what (console session only)',
      security: bearerSecurity,
      middleware: [approver] as const,
      request: { params: Uid },
      responses: { 200: json(AuthorizationRequest), ...errorResponses(401, 403, 404) },
    }),
    async (c) =>
      c.json(await deps.oauth.describe(c.get('principal'), base(c), c.req.valid('param').uid), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/oauth/authorizations/{uid}',
      tags: ['oauth'],
      summary: 'Approve or decline a pending OAuth authorization (console session only)',
      description:
        'Returns the URL the same browser must open to hand the decision to the authorization server.',
      security: bearerSecurity,
      middleware: [approver] as const,
      request: { params: Uid, body: jsonBody(Decision) },
      responses: {
        200: json(z.object({ redirect_to: z.string() }).openapi('OAuthDecisionResult')),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) =>
      c.json(
        await deps.oauth.decide(c.get('principal'), base(c), c.req.valid('param').uid, c.req.valid('json')),
        200,
      ),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/oauth/connections',
      tags: ['oauth'],
      summary: 'Your connected applications (MCP clients you authorized through OAuth)',
      security: bearerSecurity,
      middleware: [owner] as const,
      responses: { 200: json(z.object({ data: z.array(Connection) })), ...errorResponses(401, 403) },
    }),
    async (c) => c.json({ data: await deps.oauthConnections.list(c.get('principal')) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/oauth/connections/{id}',
      tags: ['oauth'],
      summary: 'Revoke a connected application: its tokens stop working at once',
      security: bearerSecurity,
      middleware: [owner] as const,
      request: { params: z.object({ id: z.string().min(1).max(128) }) },
      responses: { 204: { description: 'Revoked' }, ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      await deps.oauthConnections.revoke(c.get('principal'), c.req.valid('param').id, c.get('clientIp'));
      return c.body(null, 204);
    },
  );
  return app;
}
