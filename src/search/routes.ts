import { createRoute } from '@hono/zod-openapi';
import type { Authenticator } from '../accounts/index.js';
import { bearerSecurity, createRouter, errorResponses, json, requirePermission, z } from '../http/index.js';
import type { Principal } from '../shared/principal.js';
import type { SearchRoom } from './room.js';

const Hit = z
  .object({
    kind: z.enum(['skill', 'tool']),
    name: z.string().describe('Ready to use: a skill name for load_skill, or the tool name to call'),
    description: z.string(),
    match: z.enum(['text', 'semantic', 'both']).describe('Found by its words, by meaning, or both'),
    score: z.number(),
  })
  .openapi('SearchHit');
const Answer = z
  .object({
    mode: z
      .enum(['hybrid', 'full_text'])
      .describe('`full_text` when no embeddings provider is configured (or it failed for this query)'),
    results: z.array(Hit),
  })
  .openapi('SearchResults');
const Status = z
  .object({
    mode: z.enum(['hybrid', 'full_text']),
    embedding_model: z.string().nullable(),
    vector_path: z.enum(['pgvector', 'portable', 'none']),
    documents: z.number().int(),
    embedded: z.number().int().describe('Documents with a vector of the current model'),
    jobs: z.array(
      z.object({
        id: z.number().int(),
        kind: z.string(),
        status: z.enum(['pending', 'running', 'done', 'failed']),
        attempts: z.number().int(),
        done: z.number().int(),
        total: z.number().int().nullable(),
        last_error: z.string().nullable(),
        run_after: z.string(),
        updated_at: z.string(),
      }),
    ),
  })
  .openapi('SearchStatus');

export function searchRoutes(deps: {
  search: SearchRoom;
  auth: Authenticator;
  /** The tool names the principal may call (its tool-registry view). */
  callableTools: (principal: Principal) => Promise<readonly string[]>;
}) {
  const app = createRouter();
  const searcher = requirePermission(deps.auth, 'search.query');
  const admin = requirePermission(deps.auth, 'search.admin');
  app.openapi(
    createRoute({
      method: 'get',
      path: '/search',
      tags: ['search'],
      summary: 'Search the skills and tools you can use, best first, with how each was found',
      security: bearerSecurity,
      middleware: [searcher] as const,
      request: {
        query: z.object({
          q: z.string().min(1).max(200),
          kind: z.enum(['all', 'skill', 'tool']).default('all'),
          limit: z.coerce.number().int().min(1).max(50).default(10),
        }),
      },
      responses: { 200: json(Answer) },
    }),
    async (c) => {
      const { q, kind, limit } = c.req.valid('query');
      const principal = c.get('principal');
      const kinds = kind === 'all' ? (['skill', 'tool'] as const) : ([kind] as const);
      const callableTools = kinds.includes('tool' as never) ? await deps.callableTools(principal) : [];
      return c.json(
        await deps.search.service.search(principal, { text: q, limit, kinds, callableTools }),
        200,
      );
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/search',
      tags: ['admin'],
      summary: 'Search index status: mode, embedding model, documents embedded, indexing jobs (admin)',
      security: bearerSecurity,
      middleware: [admin] as const,
      responses: { 200: json(Status), ...errorResponses(403) },
    }),
    async (c) => c.json(await deps.search.status(), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/search/reindex',
      tags: ['admin'],
      summary: 'Re-index every document (and embed it again) in the background (admin)',
      security: bearerSecurity,
      middleware: [admin] as const,
      responses: { 202: json(z.object({ queued: z.literal(true) }), 'Queued'), ...errorResponses(403) },
    }),
    async (c) => {
      await deps.search.indexer.reindex(c.get('principal'), c.get('clientIp'));
      return c.json({ queued: true as const }, 202);
    },
  );
  return app;
}
