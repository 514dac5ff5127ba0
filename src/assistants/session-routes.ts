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
import type { ChatSessions } from './sessions.js';

const Session = z
  .object({
    id: z.uuid(),
    assistant_id: z.uuid(),
    title: z.string(),
    message_count: z.number().int(),
    busy: z.boolean().openapi({ description: 'A turn is running' }),
    created_at: z.string(),
    updated_at: z.string(),
    expires_at: z.string(),
  })
  .openapi('ChatSession');
const SessionWithMessages = Session.extend({
  messages: z.array(z.unknown()).openapi({
    description: 'The model-side history (AI SDK messages), server tool calls and results included',
  }),
}).openapi('ChatSessionDetail');
const IdParam = z.object({ id: z.uuid() });

/**
 * `/sessions`: the caller's server-kept conversations. A client continues one on `/v1/chat/completions` with
 * the `X-Skillport-Session` header (or `metadata.skillport_session`), sending only its new messages.
 */
export function sessionRoutes(deps: {
  sessions: ChatSessions;
  assistants: AssistantsService;
  auth: Authenticator;
}) {
  const app = createRouter();
  const authed = requirePermission(deps.auth, 'assistants.use');
  const tags = ['sessions'];
  app.openapi(
    createRoute({
      method: 'get',
      path: '/sessions',
      tags,
      summary: "The caller's conversation sessions, most recent first (at most 200)",
      security: bearerSecurity,
      middleware: [authed] as const,
      responses: { 200: json(z.object({ items: z.array(Session) })) },
    }),
    async (c) => c.json({ items: await deps.sessions.list(c.get('principal')) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/sessions',
      tags,
      summary: 'Start a conversation session with an assistant',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { body: jsonBody(z.object({ assistant_id: z.uuid() }).strict()) },
      responses: { 201: json(Session, 'Created'), ...errorResponses(404) },
    }),
    async (c) => {
      const actor = c.get('principal');
      const { assistant_id } = c.req.valid('json');
      await deps.assistants.get(actor, assistant_id); // 404 unless the caller can see it
      return c.json(await deps.sessions.create(actor, assistant_id), 201);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/sessions/{id}',
      tags,
      summary: 'One session with its messages',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam },
      responses: { 200: json(SessionWithMessages), ...errorResponses(404) },
    }),
    async (c) => c.json(await deps.sessions.get(c.get('principal'), c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/sessions/{id}',
      tags,
      summary: 'Delete a session',
      security: bearerSecurity,
      middleware: [authed] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(404) },
    }),
    async (c) => {
      await deps.sessions.remove(c.get('principal'), c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
  return app;
}
