import { createRoute } from '@hono/zod-openapi';
import type { Authenticator } from '../accounts/index.js';
import {
  bearerSecurity,
  createRouter,
  errorResponses,
  json,
  jsonBody,
  requirePermission,
  z,
} from '../http/index.js';
import { ENV_PROVIDER_ID, type ProvidersService } from './service.js';

const Kind = z.enum(['openai-compatible', 'anthropic']);
const Provider = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: Kind,
    base_url: z.string(),
    api_key: z.string().nullable().openapi({ description: 'Masked when a key is kept; never returned' }),
    models: z.array(z.string()),
    scope: z.enum(['global', 'own', 'environment']),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .openapi('ModelProvider');
const Models = z.array(z.string().min(1).max(200)).max(200);
const ProviderInput = z
  .object({
    name: z.string().min(1).max(100),
    kind: Kind,
    base_url: z.string().min(1).max(2000),
    api_key: z.string().min(1).max(4000).nullable().optional(),
    models: Models.optional(),
    global: z
      .boolean()
      .optional()
      .openapi({ description: "For everybody (admins; default for an admin) or the caller's own" }),
  })
  .strict();
const IdParam = z.object({ id: z.union([z.uuid(), z.literal(ENV_PROVIDER_ID)]) });
const Check = z
  .object({ ok: z.boolean(), models: z.array(z.string()), error: z.string().nullable() })
  .openapi('ProviderCheck');

/** `/providers`: model providers (admins for everybody; users their own when the admin setting allows). */
export function providersRoutes(deps: { providers: ProvidersService; auth: Authenticator }) {
  const app = createRouter();
  const authed = requirePermission(deps.auth, 'providers.use');
  const tags = ['providers'];
  app.openapi(
    createRoute({
      method: 'get',
      path: '/providers',
      tags,
      summary: "Model providers the caller may use: everybody's and their own",
      security: bearerSecurity,
      middleware: [authed] as const,
      responses: { 200: json(z.object({ items: z.array(Provider) })) },
    }),
    async (c) => c.json({ items: await deps.providers.list(c.get('principal')) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/providers',
      tags,
      summary: 'Configure a model provider (its API key is kept encrypted and never shown again)',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { body: jsonBody(ProviderInput) },
      responses: { 201: json(Provider, 'Created'), ...errorResponses(403) },
    }),
    async (c) =>
      c.json(await deps.providers.create(c.get('principal'), c.req.valid('json'), c.get('clientIp')), 201),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/providers/{id}',
      tags,
      summary: 'One model provider',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam },
      responses: { 200: json(Provider), ...errorResponses(404) },
    }),
    async (c) => c.json(await deps.providers.get(c.get('principal'), c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/providers/{id}',
      tags,
      summary: 'Change a model provider (omitted fields stay; `api_key: null` removes the key)',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: {
        params: z.object({ id: z.uuid() }),
        body: jsonBody(ProviderInput.omit({ global: true }).partial()),
      },
      responses: { 200: json(Provider), ...errorResponses(403, 404) },
    }),
    async (c) =>
      c.json(
        await deps.providers.update(
          c.get('principal'),
          c.req.valid('param').id,
          c.req.valid('json'),
          c.get('clientIp'),
        ),
        200,
      ),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/providers/{id}',
      tags,
      summary: 'Delete a model provider (refused while assistants use it)',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: z.object({ id: z.uuid() }) },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(403, 404, 409) },
    }),
    async (c) => {
      await deps.providers.remove(c.get('principal'), c.req.valid('param').id, c.get('clientIp'));
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/providers/{id}/check',
      tags,
      summary: 'Connectivity check: lists the models the provider offers with the stored key',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam },
      responses: { 200: json(Check), ...errorResponses(403, 404) },
    }),
    async (c) => c.json(await deps.providers.check(c.get('principal'), c.req.valid('param').id), 200),
  );
  return app;
}
