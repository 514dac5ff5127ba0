import { createRoute } from '@hono/zod-openapi';
import type { Database } from '../db/index.js';
import type { Authenticator } from '../accounts/index.js';
import {
  requirePermission,
  bearerSecurity,
  createRouter,
  errorResponses,
  json,
  PageQuery,
  pageOf,
  z,
} from '../http/index.js';
import { listAudit } from './service.js';

const AuditActor = z
  .object({ id: z.string(), username: z.string(), email: z.string() })
  .openapi('AuditActor');

const AuditEvent = z
  .object({
    id: z.number().int(),
    actor_id: z.string().nullable(),
    actor: AuditActor.nullable().openapi({
      description: 'Who did it; null for an unknown actor or a deleted account',
    }),
    action: z.string(),
    target: z
      .string()
      .nullable()
      .openapi({ description: '`user:<id>`, `skill:<id>`, `token:<id>`, `settings`…' }),
    target_label: z.string().nullable().openapi({
      description: "The target user's username, the skill's or token's name; null when it no longer exists",
    }),
    result: z.string(),
    ip: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    created_at: z.string(),
  })
  .openapi('AuditEvent');

const instant = z.iso.datetime({ offset: true });

const AuditQuery = PageQuery.extend({
  actor_id: z.uuid().optional().openapi({ description: 'Admins only (others always get their own events)' }),
  action: z
    .string()
    .max(64)
    .regex(
      /^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*$/,
      'must be an action name such as auth.login, or a prefix such as auth',
    )
    .optional()
    .openapi({ description: 'An exact action, or a dotted prefix (`auth` matches `auth.login`)' }),
  result: z
    .enum(['success', 'failure', 'started'])
    .optional()
    .openapi({ description: '`started`: recorded before it ran (a command) and not completed (yet)' }),
  target: z
    .string()
    .max(300)
    .regex(/^[a-z_]+(?::[^\s\p{Cc}\p{Cs}]+)?$/u, 'must be a target such as user:<id> or skill:<id>')
    .optional()
    .openapi({ description: 'An exact target, e.g. `user:<id>`' }),
  since: instant.optional().openapi({ description: 'Events at or after this time (ISO 8601 with offset)' }),
  until: instant.optional().openapi({ description: 'Events at or before this time (ISO 8601 with offset)' }),
}).refine((q) => !q.since || !q.until || Date.parse(q.since) <= Date.parse(q.until), {
  message: 'must not be before since',
  path: ['until'],
});

export function auditRoutes(deps: { db: Database; auth: Authenticator }) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/audit',
      tags: ['audit'],
      summary: "Security events, newest first: your own; an admin sees everyone's",
      description:
        'Filters combine (AND). Each event names its actor and, for users, skills and tokens, the target by name.',
      security: bearerSecurity,
      middleware: [requirePermission(deps.auth, 'audit.list')] as const,
      request: { query: AuditQuery },
      responses: { 200: json(pageOf(AuditEvent)), ...errorResponses(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(
        await listAudit(deps.db, c.get('principal'), {
          actorId: q.actor_id,
          action: q.action,
          result: q.result,
          target: q.target,
          since: q.since ? new Date(q.since) : undefined,
          until: q.until ? new Date(q.until) : undefined,
          cursor: q.cursor,
          limit: q.limit,
        }),
        200,
      );
    },
  );
  return app;
}
