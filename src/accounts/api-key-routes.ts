import { may } from '../authz/index.js';
import { createRoute } from '@hono/zod-openapi';
import {
  bearerSecurity,
  createRouter,
  errorResponses,
  json,
  jsonBody,
  PageQuery,
  pageOf,
  z,
  requirePermission,
  type PermissionGuard,
} from '../http/index.js';
import { TOKEN_SCOPES } from '../shared/principal.js';
import { keyWithScopes, type ApiTokens } from './api-tokens.js';
import type { Authenticator } from './authenticate.js';

const Permissions = {
  can_manage: z.boolean().openapi({ description: "May manage the owner's resources through the REST API" }),
  can_call_assistant: z
    .boolean()
    .openapi({ description: "May call the owner's assistants through the OpenAI-compatible API" }),
  can_use_mcp: z.boolean().openapi({ description: 'May use MCP (/mcp, /sse)' }),
  can_admin: z.boolean().openapi({
    description:
      "Carries the owner's admin powers while the owner is an admin (needs can_manage; a key can grant it only if it acts with admin powers itself)",
  }),
};
const Restriction = z
  .object({
    skills: z.array(z.string().trim().min(1).max(64)).max(100).optional(),
    servers: z.array(z.string().trim().min(1).max(20)).max(100).optional(),
    compact_tools: z.boolean().optional().openapi({
      description:
        'List only the search meta-tools (search_tools, call_tool) and reach every other tool through them',
    }),
  })
  .nullable()
  .openapi('ApiKeyRestriction', {
    description:
      "Null = no restriction; `skills` = only these skills' tools (by name); `servers` = only these upstream MCP servers' tools (by name); `compact_tools` = small-context mode. A list left out does not restrict",
  });
const AssistantIds = z.array(z.uuid()).max(100).openapi({
  description: "The assistants the key may call; empty = all of the owner's assistants",
});

const ApiKey = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().openapi({ description: 'The first 12 characters, to recognise the key' }),
    ...Permissions,
    scopes: z.array(z.enum(TOKEN_SCOPES)).openapi({
      description: 'The permissions in the old /tokens shape (api = can_manage, mcp = can_use_mcp)',
    }),
    assistant_ids: z
      .array(z.uuid())
      .openapi({ description: "The assistants the key may call; empty = all of the owner's assistants" }),
    restriction: Restriction,
    is_disabled: z.boolean(),
    expires_at: z.string().nullable(),
    last_used_at: z.string().nullable(),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
  })
  .openapi('ApiKey');
const NewApiKey = ApiKey.extend({ token: z.string() }).openapi('NewApiKey');

const Name = z.string().trim().min(1).max(100);
const ExpiresAt = z.iso.datetime({ offset: true }).nullish();
const IdParam = z.object({ id: z.uuid() });

interface ApiKeyRoutesDeps {
  apiTokens: ApiTokens;
  auth: Authenticator;
}

/** What each group of these routes gets: the deps, and the permission guard built once for all of them. */
type GroupDeps = ApiKeyRoutesDeps & { guard: PermissionGuard };

/**
 * API keys: `/api-keys` (permissions, assistants, restriction, disable) and its older alias `/tokens`
 * (the `scopes` shape, kept for existing clients). Both are the same keys through the same service.
 */
export function apiKeyRoutes(deps: ApiKeyRoutesDeps) {
  const app = createRouter();
  const groups: GroupDeps = { ...deps, guard: (action) => requirePermission(deps.auth, action) };
  app.route('/', listAndRevokeRoutes(groups));
  app.route('/', apiKeyWriteRoutes(groups));
  app.route('/', tokenCreateRoutes(groups));
  return app;
}

/** `/api-keys` and `/tokens`: list keys, revoke one. */
function listAndRevokeRoutes({ apiTokens, guard }: GroupDeps) {
  const app = createRouter();
  for (const path of ['/api-keys', '/tokens'] as const) {
    const tags = [path === '/tokens' ? 'tokens' : 'api-keys'];
    app.openapi(
      createRoute({
        method: 'get',
        path,
        tags,
        summary: path === '/tokens' ? 'List API keys (older alias of /api-keys)' : 'List your API keys',
        security: bearerSecurity,
        middleware: [guard('api-keys.list')] as const,
        request: { query: PageQuery },
        responses: { 200: json(pageOf(ApiKey)), ...errorResponses(400, 401, 403) },
      }),
      async (c) => c.json(await apiTokens.list(c.get('principal'), c.req.valid('query')), 200),
    );
    app.openapi(
      createRoute({
        method: 'delete',
        path: `${path}/{id}`,
        tags,
        summary: path === '/tokens' ? 'Revoke an API key (older alias)' : 'Revoke an API key (for good)',
        security: bearerSecurity,
        middleware: [guard('api-keys.revoke')] as const,
        request: { params: IdParam },
        responses: { 204: { description: 'Revoked' }, ...errorResponses(400, 401, 403, 404) },
      }),
      async (c) => {
        await apiTokens.revoke(c.get('principal'), c.req.valid('param').id, c.get('clientIp'));
        return c.body(null, 204);
      },
    );
  }

  return app;
}

/** `/api-keys`: create a key, change one. */
function apiKeyWriteRoutes({ apiTokens, guard }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api-keys',
      tags: ['api-keys'],
      summary: 'Create an API key; the plaintext key is returned once, in this response only',
      security: bearerSecurity,
      middleware: [guard('api-keys.create')] as const,
      request: {
        body: jsonBody(
          z.object({
            name: Name,
            can_manage: Permissions.can_manage.default(false),
            can_call_assistant: Permissions.can_call_assistant.default(false),
            can_use_mcp: Permissions.can_use_mcp.default(false),
            can_admin: Permissions.can_admin.default(false),
            assistant_ids: AssistantIds.default([]),
            restriction: Restriction.default(null),
            expires_at: ExpiresAt,
          }),
        ),
      },
      responses: { 201: json(NewApiKey, 'Created'), ...errorResponses(400, 401, 403) },
    }),
    async (c) => {
      const { name, assistant_ids, restriction, expires_at, ...permissions } = c.req.valid('json');
      const created = await apiTokens.create(
        c.get('principal'),
        {
          name,
          permissions,
          assistantIds: assistant_ids,
          restriction,
          expiresAt: expires_at ? new Date(expires_at) : null,
        },
        c.get('clientIp'),
      );
      return c.json(created, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api-keys/{id}',
      tags: ['api-keys'],
      summary:
        'Change an API key: name, permissions, assistants, restriction, disabled (omitted fields stay)',
      security: bearerSecurity,
      middleware: [guard('api-keys.update')] as const,
      request: {
        params: IdParam,
        body: jsonBody(
          z
            .object({
              name: Name.optional(),
              can_manage: Permissions.can_manage.optional(),
              can_call_assistant: Permissions.can_call_assistant.optional(),
              can_use_mcp: Permissions.can_use_mcp.optional(),
              can_admin: Permissions.can_admin.optional(),
              assistant_ids: AssistantIds.optional(),
              restriction: Restriction.optional(),
              is_disabled: z.boolean().optional().openapi({
                description:
                  'Disable (refused at once everywhere) or enable again; unlike revoking, reversible',
              }),
            })
            .strict()
            .refine((changes) => Object.keys(changes).length > 0, 'Give at least one field to change'),
        ),
      },
      responses: { 200: json(ApiKey), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { name, assistant_ids, restriction, is_disabled, ...permissions } = c.req.valid('json');
      const updated = await apiTokens.update(
        c.get('principal'),
        c.req.valid('param').id,
        { name, permissions, assistantIds: assistant_ids, restriction, disabled: is_disabled },
        c.get('clientIp'),
      );
      return c.json(updated, 200);
    },
  );

  return app;
}

/** `POST /tokens`: create a key in the older `scopes` shape. */
function tokenCreateRoutes({ apiTokens, guard }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'post',
      path: '/tokens',
      tags: ['tokens'],
      summary:
        'Create an API key in the older scopes shape (alias of POST /api-keys); the plaintext is returned once',
      security: bearerSecurity,
      middleware: [guard('api-keys.create')] as const,
      request: {
        body: jsonBody(
          z.object({
            name: Name,
            scopes: z.array(z.enum(TOKEN_SCOPES)).min(1).max(2).default(['mcp']),
            expires_at: ExpiresAt,
          }),
        ),
      },
      responses: { 201: json(NewApiKey, 'Created'), ...errorResponses(400, 401, 403) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const principal = c.get('principal');
      const key = keyWithScopes(body.name, body.scopes, {
        expiresAt: body.expires_at ? new Date(body.expires_at) : null,
        withAdmin: may(principal, 'api-keys.grant', 'can_admin'),
      });
      return c.json(await apiTokens.create(principal, key, c.get('clientIp')), 201);
    },
  );

  return app;
}
