import { createRoute } from '@hono/zod-openapi';
import type { Database } from '../db/index.js';
import type { Authenticator } from '../accounts/authenticate.js';
import { requireAuth } from '../http/middleware.js';
import { bearerSecurity, createRouter, errorResponses, json, PageQuery, pageOf, z } from '../http/openapi.js';
import { listAudit } from './service.js';

const AuditEvent = z
  .object({
    id: z.number().int(),
    actor_id: z.string().nullable(),
    action: z.string(),
    target: z.string().nullable(),
    result: z.string(),
    ip: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    created_at: z.string(),
  })
  .openapi('AuditEvent');

export function auditRoutes(deps: { db: Database; auth: Authenticator }) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/audit',
      tags: ['audit'],
      summary: "Security events: your own; an admin sees everyone's (optionally filtered by actor_id)",
      security: bearerSecurity,
      middleware: [requireAuth(deps.auth, 'api')] as const,
      request: { query: PageQuery.extend({ actor_id: z.uuid().optional() }) },
      responses: { 200: json(pageOf(AuditEvent)), ...errorResponses(400, 401) },
    }),
    async (c) => {
      const p = c.get('principal');
      const q = c.req.valid('query');
      const actorId = p.isAdmin ? q.actor_id : p.userId;
      return c.json(await listAudit(deps.db, { actorId, cursor: q.cursor, limit: q.limit }), 200);
    },
  );
  return app;
}
