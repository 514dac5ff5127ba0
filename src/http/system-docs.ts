import type { OpenAPIHono } from '@hono/zod-openapi';
import { errorResponses, json, PERMISSION_EXTENSION, z } from './openapi.js';

// The answers of the routes `createHttpApp` serves itself (probes, metrics, server info). Their handlers take no
// input, so they are plain routes and documented here; test/http/openapi.test.ts checks the answers match.

export const HealthSchema = z.object({ status: z.literal('ok') }).openapi('Health');

export const ReadinessSchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    database: z.boolean().openapi({ description: 'Whether the database answered' }),
    command_sandbox: z
      .string()
      .openapi({ description: 'The run_shell_command sandbox level in force, or "off"' }),
    search: z.enum(['hybrid', 'full_text']).openapi({
      description:
        '`full_text` when no embeddings provider is configured (EMBEDDINGS_BASE_URL, EMBEDDINGS_MODEL)',
    }),
    warnings: z.array(z.string()).openapi({ description: 'Degraded-mode notices' }),
  })
  .openapi('Readiness');

export const ServerInfoSchema = z
  .object({
    version: z.string(),
    public_url: z.string(),
    mcp_url: z.string().openapi({ description: 'The MCP endpoint (Streamable HTTP)' }),
    sse_url: z.string().openapi({ description: 'The legacy MCP endpoint (HTTP+SSE)' }),
    signup: z.enum(['open', 'closed']),
  })
  .openapi('ServerInfo');

export function documentSystemRoutes(registry: OpenAPIHono['openAPIRegistry'], apiPrefix: string): void {
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A console access token (JWT) or a personal API token with the `api` scope',
  });
  registry.registerComponent('securitySchemes', 'metricsToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'The `METRICS_TOKEN` value, for a Prometheus scraper',
  });
  registry.registerPath({
    method: 'get',
    path: '/health',
    [PERMISSION_EXTENSION]: 'public',
    tags: ['system'],
    summary: 'Liveness: the process answers (touches nothing else)',
    security: [],
    responses: { 200: json(HealthSchema, 'Alive') },
  });
  registry.registerPath({
    method: 'get',
    path: '/ready',
    [PERMISSION_EXTENSION]: 'public',
    tags: ['system'],
    summary: 'Readiness: the database answers (for load balancers)',
    security: [],
    responses: {
      200: json(ReadinessSchema, 'Ready'),
      503: json(ReadinessSchema, 'Not ready: the database does not answer'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    // Or the operator's METRICS_TOKEN, which is no principal.
    [PERMISSION_EXTENSION]: 'metrics.read',
    tags: ['system'],
    summary: 'Prometheus metrics (METRICS_TOKEN or an administrator)',
    security: [{ metricsToken: [] }, { bearer: [] }],
    responses: {
      200: {
        description: 'Metrics in the Prometheus text exposition format',
        content: { 'text/plain': { schema: z.string() } },
      },
      ...errorResponses(401),
    },
  });
  registry.registerPath({
    method: 'get',
    path: `${apiPrefix}/info`,
    [PERMISSION_EXTENSION]: 'public',
    tags: ['system'],
    summary: 'Server version, URLs for MCP clients, and whether sign-up is open',
    security: [],
    responses: { 200: json(ServerInfoSchema) },
  });
}
