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
import type { AssistantsService } from './service.js';

const Skills = z
  .union([z.literal('all'), z.array(z.string().min(1).max(128)).max(500)])
  .openapi({ description: '`all` (every skill of the owner) or the names of the chosen skills' });
const Assistant = z
  .object({
    id: z.uuid(),
    name: z.string().openapi({ description: 'The model id clients use' }),
    description: z.string(),
    provider_id: z.string().nullable().openapi({ description: "null = the environment's provider" }),
    model: z.string(),
    system_prompt: z.string(),
    temperature: z.number().nullable(),
    max_tokens: z.number().int().nullable(),
    max_steps: z.number().int(),
    skills: Skills,
    run_scripts: z.boolean(),
    upstream_tools: z.array(z.string()),
    shared: z.boolean(),
    owned: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Assistant');
export const AssistantInput = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, . _ - (a model id, at most 64)'),
    description: z.string().max(2000).optional(),
    provider_id: z
      .union([z.uuid(), z.literal('env')])
      .nullable()
      .optional(),
    model: z.string().min(1).max(200),
    system_prompt: z.string().max(100_000).optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    max_tokens: z.number().int().min(1).max(1_000_000).nullable().optional(),
    max_steps: z.number().int().min(1).max(100).optional(),
    skills: Skills.optional(),
    run_scripts: z.boolean().optional(),
    upstream_tools: z
      .array(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, '`server` or `server__tool`'))
      .max(500)
      .optional(),
    shared: z.boolean().optional().openapi({ description: 'Share with every user (admins only)' }),
  })
  .strict();
const Usage = z
  .object({
    assistant_id: z.uuid(),
    credential: z.string().openapi({ description: 'The API key id, or `session` for the console' }),
    requests: z.number().int(),
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    updated_at: z.string(),
  })
  .openapi('AssistantUsage');
const IdParam = z.object({ id: z.uuid() });

/** `/assistants`: CRUD and usage. Calling one goes through the OpenAI-compatible `/v1` edge. */
export function assistantsRoutes(deps: { assistants: AssistantsService; auth: Authenticator }) {
  const app = createRouter();
  const authed = requirePermission(deps.auth, 'assistants.use');
  const tags = ['assistants'];
  const svc = deps.assistants;
  app.openapi(
    createRoute({
      method: 'get',
      path: '/assistants',
      tags,
      summary: "The caller's assistants and the shared ones",
      security: bearerSecurity,
      middleware: [authed] as const,
      responses: { 200: json(z.object({ items: z.array(Assistant) })) },
    }),
    async (c) => c.json({ items: await svc.list(c.get('principal')) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/assistants',
      tags,
      summary: 'Create an assistant (its name is the model id on /v1/models)',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { body: jsonBody(AssistantInput) },
      responses: { 201: json(Assistant, 'Created'), ...errorResponses(403, 409) },
    }),
    async (c) => c.json(await svc.create(c.get('principal'), c.req.valid('json'), c.get('clientIp')), 201),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/assistants/{id}',
      tags,
      summary: 'One assistant',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam },
      responses: { 200: json(Assistant), ...errorResponses(404) },
    }),
    async (c) => c.json(await svc.get(c.get('principal'), c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/assistants/{id}',
      tags,
      summary: 'Change an assistant (omitted fields stay)',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam, body: jsonBody(AssistantInput.partial()) },
      responses: { 200: json(Assistant), ...errorResponses(403, 404, 409) },
    }),
    async (c) =>
      c.json(
        await svc.update(c.get('principal'), c.req.valid('param').id, c.req.valid('json'), c.get('clientIp')),
        200,
      ),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/assistants/{id}',
      tags,
      summary: 'Delete an assistant (keys bound to it stop reaching it; they never widen to all)',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(404) },
    }),
    async (c) => {
      await svc.remove(c.get('principal'), c.req.valid('param').id, c.get('clientIp'));
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/assistants/{id}/usage',
      tags,
      summary: 'Tokens used by an assistant, per credential',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(Usage) })), ...errorResponses(404) },
    }),
    async (c) => c.json({ items: await svc.usage(c.get('principal'), c.req.valid('param').id) }, 200),
  );
  return app;
}
