import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import { accountsRoutes } from '../accounts/routes.js';
import { adminRoutes } from '../admin/routes.js';
import { auditRoutes } from '../audit/routes.js';
import { may, scopeFor } from '../authz/index.js';
import type { HttpBindings } from '@hono/node-server';
import {
  accessLog,
  bearerSecurity,
  documentSystemRoutes,
  errorResponse,
  handleError,
  jsonBodyLimit,
  requestContext,
  securityHeaders,
  serveOpenApiDocument,
  wellFormedUrl,
  type AccessLog,
  type AppEnv,
} from '../http/index.js';
import { mountMcp } from '../mcp/index.js';
import { constantTimeEqual } from '../shared/crypto.js';
import { skillsRoutes } from '../skills/routes.js';
import { mountApiDocs, mountConsole } from '../web/index.js';
import type { AppContext } from './context.js';
import { mountOAuth, oauthRoutes } from '../oauth/routes.js';
import { providersRoutes } from '../providers/routes.js';
import { assistantsRoutes } from '../assistants/routes.js';
import { sessionRoutes } from '../assistants/session-routes.js';
import { openAiRoutes, PendingToolTurns } from '../openai/index.js';
import { searchRoutes } from '../search/routes.js';
import { internalUpstreamRoutes, upstreamRoutes } from '../upstreams/routes.js';

const API_PREFIX = '/api/v1';

/**
 * Builds the HTTP application (the composition root mounts every room's routes, so `http/` needs none of them):
 * cross-cutting middleware, then each room's routes, then the console.
 */
export function createHttpApp(ctx: AppContext): {
  app: OpenAPIHono<AppEnv>;
  /** The server's request handler: the `/mcp` fast path (`McpHttp.direct`), else the app. */
  serve: (request: Request, env: HttpBindings) => Response | Promise<Response>;
  consoleMounted: boolean;
} {
  const { config, logger, metrics } = ctx;
  const app = new OpenAPIHono<AppEnv>();
  app.onError(handleError);
  const noRoute = (c: Context<AppEnv>) =>
    errorResponse(c, 404, 'not_found', `No route for ${c.req.method} ${c.req.path}`);
  app.notFound(noRoute);

  const access = accessLog(logger, metrics);
  useMiddleware(app, ctx, access);
  mountSystemRoutes(app, ctx);
  mountRoomRoutes(app, ctx);

  const mcp = mountMcp(app, {
    config,
    auth: ctx.authenticator,
    apiTokens: ctx.apiTokens,
    logger,
    access,
    version: ctx.version,
    tools: ctx.tools,
    skillViews: ctx.skillViews,
    sseRelay: ctx.sseRelay,
  });
  ctx.closers.push(() => mcp.close());

  mountApiDocument(app, ctx.version);
  // Machine paths never fall through to the console's index.html: a client parsing JSON gets a JSON 404.
  app.all('/.well-known/*', noRoute);
  app.all('/api/*', noRoute);
  const consoleMounted = mountConsole(app);
  const serve = (request: Request, env: HttpBindings) => {
    const direct = mcp.direct(request, env);
    return direct ? direct.then((answer) => answer ?? app.fetch(request, env)) : app.fetch(request, env);
  };
  return { app, serve, consoleMounted };
}

/** Cross-cutting middleware, before any route. */
function useMiddleware(app: OpenAPIHono<AppEnv>, ctx: AppContext, access: AccessLog): void {
  const { config, logger } = ctx;
  app.use('*', requestContext(logger, access, config.TRUST_PROXY));
  app.use('*', securityHeaders);
  if (config.CORS_ORIGINS.length) {
    app.use(
      '*',
      cors({
        origin: config.CORS_ORIGINS,
        allowHeaders: [
          'Authorization',
          'Content-Type',
          'Mcp-Session-Id',
          'Mcp-Protocol-Version',
          'X-Skillport-Session',
          'X-Skillport-Tool-Events',
        ],
        exposeHeaders: ['Mcp-Session-Id', 'X-Request-Id', 'WWW-Authenticate', 'X-Skillport-Session'],
        maxAge: 600,
      }),
    );
  }
  // JSON bodies are small; archive uploads are streamed with their own cap by the skills routes.
  app.use(`${API_PREFIX}/*`, jsonBodyLimit(config.MAX_JSON_BODY_BYTES));
  // Text rules for every decoded input: here the URL's encoding; per field in validationHook (http/errors.ts).
  app.use(`${API_PREFIX}/*`, wellFormedUrl);
}

/** `/health`, `/ready`, `/metrics` and the API's `/info`. */
function mountSystemRoutes(app: OpenAPIHono<AppEnv>, ctx: AppContext): void {
  const { config, metrics } = ctx;
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const database = await ctx.db.ping();
    const body = {
      status: database ? 'ready' : 'unavailable',
      database,
      command_sandbox: ctx.commandLevel,
      search: ctx.search.service.mode,
      warnings: ctx.warnings,
    };
    return c.json(body, database ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    if (!(await metricsAllowed(ctx, c.req.header('authorization')))) {
      c.header('WWW-Authenticate', 'Bearer realm="skillport"');
      return errorResponse(c, 401, 'unauthorized', 'METRICS_TOKEN or an admin credential is required');
    }
    return c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType });
  });

  app.get(`${API_PREFIX}/info`, (c) => {
    const base = config.PUBLIC_URL ?? new URL(c.req.url).origin;
    return c.json({
      version: ctx.version,
      public_url: base,
      mcp_url: `${base}/mcp`,
      sse_url: `${base}/sse`,
      signup: config.SIGNUP,
    });
  });
}

/** Each room's routes: the REST API under /api/v1, the OAuth endpoints, the OpenAI-compatible edge at /v1. */
function mountRoomRoutes(app: OpenAPIHono<AppEnv>, ctx: AppContext): void {
  const deps = { ...ctx, auth: ctx.authenticator, db: ctx.db.db };
  app.route(API_PREFIX, accountsRoutes(deps));
  app.route(API_PREFIX, auditRoutes(deps));
  app.route(API_PREFIX, skillsRoutes(deps));
  app.route(API_PREFIX, adminRoutes(deps));
  app.route(API_PREFIX, oauthRoutes(deps));
  mountOAuth(app, { oauth: ctx.oauth, publicUrl: ctx.config.PUBLIC_URL });
  app.route(API_PREFIX, providersRoutes(deps));
  app.route(API_PREFIX, assistantsRoutes(deps));
  app.route(API_PREFIX, sessionRoutes(deps));
  mountOpenAi(app, ctx);
  app.route(
    API_PREFIX,
    searchRoutes({
      ...deps,
      callableTools: async (principal) => (await ctx.tools.toolsFor(principal)).tools.map((t) => t.name),
    }),
  );
  app.route(API_PREFIX, upstreamRoutes(deps));
  internalUpstreamRoutes(app, ctx.upstreamSupervisor);
}

/** The OpenAPI document of the REST API, and its reference page. */
function mountApiDocument(app: OpenAPIHono<AppEnv>, version: string): void {
  documentSystemRoutes(app.openAPIRegistry, API_PREFIX);
  serveOpenApiDocument(app, '/api/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Skillport API',
      version,
      description: 'The REST API of the console. MCP clients use `/mcp` (Streamable HTTP) or `/sse` instead.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    servers: [{ url: '/' }],
    // Routes built with createRouter() state their own access; anything else needs a token.
    security: bearerSecurity,
  });
  mountApiDocs(app, '/api/openapi.json');
}

async function metricsAllowed(ctx: AppContext, header: string | undefined): Promise<boolean> {
  const presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!presented) return false;
  if (ctx.config.METRICS_TOKEN && constantTimeEqual(presented, ctx.config.METRICS_TOKEN)) return true;
  const result = await ctx.authenticator.resolve(header, scopeFor('metrics.read'));
  return 'principal' in result && may(result.principal, 'metrics.read');
}

/** How often expired hidden steps and chat sessions are deleted (any instance may do it; it is idempotent). */
const CHAT_SWEEP_MS = 15 * 60 * 1000;

/** Mounts the OpenAI-compatible edge at `/v1` (its own error shape, not the REST envelope). */
function mountOpenAi(app: OpenAPIHono<AppEnv>, ctx: AppContext): void {
  const pending = new PendingToolTurns(ctx.db.db);
  const sweep = () => Promise.all([pending.sweep(), ctx.sessions.sweep()]);
  const timer = setInterval(() => void sweep().catch(() => undefined), CHAT_SWEEP_MS);
  timer.unref();
  ctx.closers.push(async () => clearInterval(timer));
  app.use('/v1/*', jsonBodyLimit(ctx.config.MAX_JSON_BODY_BYTES));
  app.route(
    '/v1',
    openAiRoutes({
      assistants: ctx.assistants,
      providers: ctx.providers,
      tools: ctx.tools,
      pending,
      sessions: ctx.sessions,
      metrics: ctx.metrics,
      turnTimeoutMs: ctx.config.ASSISTANT_TURN_TIMEOUT * 1000,
      auth: ctx.authenticator,
    }),
  );
}
