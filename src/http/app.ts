import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { constantTimeEqual } from '../shared/crypto.js';
import type { AppContext } from '../server/context.js';
import { accountsRoutes } from '../accounts/routes.js';
import { auditRoutes } from '../audit/routes.js';
import { skillsRoutes } from '../skills/index.js';
import { mountMcp } from '../mcp/index.js';
import { adminRoutes } from '../admin/index.js';
import { internalUpstreamRoutes, upstreamRoutes } from '../upstreams/index.js';
import { mountApiDocs, mountConsole } from '../web/console.js';
import { errorResponse, handleError } from './errors.js';
import { jsonBodyLimit, requestContext, wellFormedUrl } from './middleware.js';
import { bearerSecurity, serveOpenApiDocument } from './openapi.js';
import { documentSystemRoutes } from './system-docs.js';
import type { AppEnv } from './types.js';

const API_PREFIX = '/api/v1';

/** Builds the HTTP application: cross-cutting middleware, then each room's routes, then the console. */
export function createHttpApp(ctx: AppContext): { app: OpenAPIHono<AppEnv>; consoleMounted: boolean } {
  const { config, logger, metrics } = ctx;
  const app = new OpenAPIHono<AppEnv>();
  app.onError(handleError);
  app.notFound((c) => errorResponse(c, 404, 'not_found', `No route for ${c.req.method} ${c.req.path}`));

  app.use('*', requestContext(logger, metrics, config.TRUST_PROXY));
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
      },
      crossOriginResourcePolicy: 'same-origin',
      xFrameOptions: 'DENY',
    }),
  );
  if (config.CORS_ORIGINS.length) {
    app.use(
      '*',
      cors({
        origin: config.CORS_ORIGINS,
        allowHeaders: ['Authorization', 'Content-Type', 'Mcp-Session-Id', 'Mcp-Protocol-Version'],
        exposeHeaders: ['Mcp-Session-Id', 'X-Request-Id', 'WWW-Authenticate'],
        maxAge: 600,
      }),
    );
  }
  // JSON bodies are small; archive uploads are streamed with their own cap by the skills routes.
  app.use(`${API_PREFIX}/*`, jsonBodyLimit(config.MAX_JSON_BODY_BYTES));
  // Text rules for every decoded input: here the URL's encoding; per field in validationHook (http/errors.ts).
  app.use(`${API_PREFIX}/*`, wellFormedUrl);

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const database = await ctx.db.ping();
    const body = {
      status: database ? 'ready' : 'unavailable',
      database,
      command_sandbox: ctx.commandLevel,
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

  const deps = { ...ctx, auth: ctx.authenticator, db: ctx.db.db };
  app.route(API_PREFIX, accountsRoutes(deps));
  app.route(API_PREFIX, auditRoutes(deps));
  app.route(API_PREFIX, skillsRoutes(deps));
  app.route(API_PREFIX, adminRoutes(deps));
  app.route(API_PREFIX, upstreamRoutes(deps));
  internalUpstreamRoutes(app, ctx.upstreamSupervisor);

  const mcp = mountMcp(app, {
    config,
    auth: ctx.authenticator,
    apiTokens: ctx.apiTokens,
    logger,
    version: ctx.version,
    tools: ctx.tools,
    skillViews: ctx.skillViews,
  });
  ctx.closers.push(() => mcp.close());

  documentSystemRoutes(app.openAPIRegistry, API_PREFIX);
  serveOpenApiDocument(app, '/api/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Skillport API',
      version: ctx.version,
      description: 'The REST API of the console. MCP clients use `/mcp` (Streamable HTTP) or `/sse` instead.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    servers: [{ url: '/' }],
    // Routes built with createRouter() state their own access; anything else needs a token.
    security: bearerSecurity,
  });
  mountApiDocs(app, '/api/openapi.json');
  const consoleMounted = mountConsole(app);
  return { app, consoleMounted };
}

async function metricsAllowed(ctx: AppContext, header: string | undefined): Promise<boolean> {
  const presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!presented) return false;
  if (ctx.config.METRICS_TOKEN && constantTimeEqual(presented, ctx.config.METRICS_TOKEN)) return true;
  const result = await ctx.authenticator.resolve(header, 'api');
  return 'principal' in result && result.principal.isAdmin;
}
