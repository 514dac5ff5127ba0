import { createRoute } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import type { Authenticator } from '../accounts/index.js';
import {
  bearerSecurity,
  createRouter,
  errorResponses,
  json,
  jsonBody,
  requirePermission,
  z,
  type AppEnv,
} from '../http/index.js';
import { SERVER_NAME } from './names.js';
import type { UpstreamsService } from './service.js';
import type { UpstreamSupervisor } from './supervisor.js';
import { MAX_CALL_TIMEOUT_MS } from './types.js';

const Secrets = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,127}$/), z.string().max(8192))
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 entries')
  .openapi({ description: 'Secret values (write-only: shown masked; send the mask back to keep a value)' });
const ToolName = z.string().min(1).max(128);
const Common = {
  name: z.string().regex(SERVER_NAME, 'a slug: a-z, 0-9 and -, at most 20 characters'),
  description: z.string().max(1000).optional(),
  enabled: z.boolean().optional(),
  shared: z.boolean().optional().openapi({ description: 'Offer to every user (admins only)' }),
  call_timeout_ms: z.number().int().min(1000).max(MAX_CALL_TIMEOUT_MS).optional(),
  tool_allow: z.array(ToolName).max(500).nullable().optional(),
  tool_deny: z.array(ToolName).max(500).optional(),
  tool_descriptions: z
    .record(ToolName, z.string().max(4000))
    .refine((r) => Object.keys(r).length <= 500, 'at most 500 entries')
    .optional(),
};
const Path = z.string().min(1).max(1024).startsWith('/');
const StdioFields = {
  command: z.string().min(1).max(1024),
  args: z.array(z.string().max(4096)).max(100).optional(),
  cwd: Path.nullable().optional(),
  read_paths: z.array(Path).max(20).optional(),
  network: z.enum(['none', 'host']).optional(),
  env: Secrets.optional(),
};
const HttpFields = { url: z.string().max(2048), headers: Secrets.optional() };
const CreateServer = z
  .discriminatedUnion('transport', [
    z.object({ transport: z.literal('stdio'), ...Common, ...StdioFields }).strict(),
    z.object({ transport: z.enum(['sse', 'streamable-http']), ...Common, ...HttpFields }).strict(),
  ])
  .openapi('NewMcpServer');
const UpdateServer = z
  .object({
    ...Common,
    name: Common.name.optional(),
    ...StdioFields,
    command: StdioFields.command.optional(),
    url: HttpFields.url.optional(),
    headers: HttpFields.headers,
  })
  .strict()
  .openapi('McpServerChange');

const McpServer = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    transport: z.enum(['stdio', 'sse', 'streamable-http']),
    command: z.string().nullable(),
    args: z.array(z.string()),
    cwd: z.string().nullable(),
    read_paths: z.array(z.string()),
    network: z.enum(['none', 'host']).nullable(),
    env: z.record(z.string(), z.string()).openapi({ description: 'Names, values masked' }),
    url: z.string().nullable(),
    headers: z.record(z.string(), z.string()).openapi({ description: 'Names, values masked' }),
    enabled: z.boolean(),
    shared: z.boolean(),
    is_owner: z.boolean(),
    hidden: z.boolean(),
    call_timeout_ms: z.number(),
    tool_allow: z.array(z.string()).nullable(),
    tool_deny: z.array(z.string()),
    tool_descriptions: z.record(z.string(), z.string()),
    status: z.enum(['starting', 'running', 'stopped', 'error']),
    last_error: z.string().nullable(),
    status_changed_at: z.string().nullable(),
    restart_count: z.number(),
    protocol_era: z.string().nullable(),
    tools: z.array(
      z.object({ name: z.string(), exposed_name: z.string(), description: z.string(), allowed: z.boolean() }),
    ),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('McpServer');

const IdParam = z.object({ id: z.uuid() });

interface UpstreamRoutesDeps {
  upstreams: UpstreamsService;
  upstreamSupervisor: UpstreamSupervisor;
  auth: Authenticator;
}

/** `/mcp-servers`: upstream MCP servers (CRUD, hide, start/stop/restart, stderr). */
export function upstreamRoutes(deps: UpstreamRoutesDeps) {
  const app = createRouter();
  app.route('/', serverCrudRoutes(deps));
  app.route('/', serverControlRoutes(deps));
  return app;
}

/** The route helper of every `/mcp-servers` route: one tag, the bearer scheme, the `mcp-servers.use` guard. */
function mcpServerRoute(auth: Authenticator) {
  const authed = requirePermission(auth, 'mcp-servers.use');
  const tags = ['mcp-servers'];
  return <R extends Parameters<typeof createRoute>[0]>(r: R) =>
    createRoute({ ...r, tags, security: bearerSecurity, middleware: [authed] as const });
}

/** `/mcp-servers` and `/mcp-servers/{id}`: list, add, read, change and delete servers. */
function serverCrudRoutes({ upstreams, auth }: UpstreamRoutesDeps) {
  const app = createRouter();
  const route = mcpServerRoute(auth);

  app.openapi(
    route({
      method: 'get',
      path: '/mcp-servers',
      summary: 'List the MCP servers you see: your own and the shared ones',
      responses: { 200: json(z.object({ items: z.array(McpServer) })), ...errorResponses(401, 403) },
    }),
    async (c) => c.json({ items: await upstreams.list(c.get('principal')) }, 200),
  );
  app.openapi(
    route({
      method: 'post',
      path: '/mcp-servers',
      summary: 'Add an upstream MCP server (stdio: administrators by default; URLs are checked against SSRF)',
      request: { body: jsonBody(CreateServer) },
      responses: { 201: json(McpServer, 'Created'), ...errorResponses(400, 401, 403, 409) },
    }),
    async (c) =>
      c.json(await upstreams.create(c.get('principal'), c.req.valid('json'), c.get('clientIp')), 201),
  );
  app.openapi(
    route({
      method: 'get',
      path: '/mcp-servers/{id}',
      summary: 'One MCP server with its status and tools',
      request: { params: IdParam },
      responses: { 200: json(McpServer), ...errorResponses(401, 403, 404) },
    }),
    async (c) => c.json(await upstreams.get(c.get('principal'), c.req.valid('param').id), 200),
  );
  app.openapi(
    route({
      method: 'put',
      path: '/mcp-servers/{id}',
      summary: 'Change an MCP server (omitted fields stay; the transport cannot change)',
      request: { params: IdParam, body: jsonBody(UpdateServer) },
      responses: { 200: json(McpServer), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) =>
      c.json(
        await upstreams.update(
          c.get('principal'),
          c.req.valid('param').id,
          c.req.valid('json'),
          c.get('clientIp'),
        ),
        200,
      ),
  );
  app.openapi(
    route({
      method: 'delete',
      path: '/mcp-servers/{id}',
      summary: 'Delete an MCP server',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      await upstreams.remove(c.get('principal'), c.req.valid('param').id, c.get('clientIp'));
      return c.body(null, 204);
    },
  );
  return app;
}

/** Hide a shared server, start, stop or restart one, read its stderr. */
function serverControlRoutes({ upstreams, upstreamSupervisor: supervisor, auth }: UpstreamRoutesDeps) {
  const app = createRouter();
  const route = mcpServerRoute(auth);

  app.openapi(
    route({
      method: 'put',
      path: '/mcp-servers/{id}/hidden',
      summary: 'Hide a shared MCP server from your tools, or show it again',
      request: { params: IdParam, body: jsonBody(z.object({ hidden: z.boolean() })) },
      responses: { 200: json(McpServer), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) =>
      c.json(
        await upstreams.setHidden(c.get('principal'), c.req.valid('param').id, c.req.valid('json').hidden),
        200,
      ),
  );
  for (const action of ['start', 'stop', 'restart'] as const) {
    app.openapi(
      route({
        method: 'post',
        path: `/mcp-servers/{id}/${action}`,
        summary:
          action === 'start'
            ? 'Start (enable) an MCP server; clears a crash loop'
            : action === 'stop'
              ? 'Stop (disable) an MCP server'
              : 'Restart an MCP server',
        request: { params: IdParam },
        responses: { 200: json(McpServer), ...errorResponses(401, 403, 404) },
      }),
      async (c) => {
        const principal = c.get('principal');
        const { id } = c.req.valid('param');
        await supervisor[action](principal, id, c.get('clientIp'));
        return c.json(await upstreams.get(principal, id), 200);
      },
    );
  }
  app.openapi(
    route({
      method: 'get',
      path: '/mcp-servers/{id}/stderr',
      summary: "The last 64 KiB of a stdio server's stderr on this instance (secret values replaced)",
      request: { params: IdParam },
      responses: { 200: json(z.object({ stderr: z.string() })), ...errorResponses(401, 403, 404) },
    }),
    async (c) =>
      c.json({ stderr: await supervisor.stderr(c.get('principal'), c.req.valid('param').id) }, 200),
  );
  return app;
}

/**
 * `/internal/upstreams/:id/call`: a tool call forwarded by another instance to the one that runs the server
 * (its lease owner). Not part of the public API: authenticated by an HMAC token derived from SECRET_KEY, bound
 * to the server and valid for a minute.
 */
export function internalUpstreamRoutes(app: Hono<AppEnv>, supervisor: UpstreamSupervisor): void {
  app.post('/internal/upstreams/:id/call', async (c) => {
    const body: unknown = await c.req.json().catch(() => null);
    const answer = await supervisor.serveForwarded(
      c.req.param('id'),
      c.req.header('authorization'),
      body,
      c.req.raw.signal,
    );
    return c.json(answer.body, answer.status as 200);
  });
}
