import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type HttpBindings, type ServerType } from '@hono/node-server';
import type { Config } from '../config/index.js';
import { createHttpApp } from './http-app.js';
import { createContext, type AppContext, type ContextOptions } from './context.js';

export interface RunningServer {
  url: string;
  port: number;
  ctx: AppContext;
  stop(): Promise<void>;
}

/**
 * Answers while the database opens and migrates (the port is bound first, see `startServer`): the process is
 * alive (/health) but serves nothing yet.
 */
const starting = (req: Request): Response =>
  new URL(req.url).pathname === '/health'
    ? Response.json({ status: 'starting' })
    : Response.json(
        {
          success: false,
          error: { code: 'starting', message: 'The server is starting; try again shortly' },
          timestamp: new Date().toISOString(),
        },
        { status: 503, headers: { 'Retry-After': '1' } },
      );

/**
 * Binds the port, then opens the database (migrating it), builds the app and serves. The port comes first so
 * that a port in use is reported at once, not after the seconds it takes to open the database.
 * Used by the CLI, tests and benchmarks.
 */
export async function startServer(config: Config, opts: ContextOptions = {}): Promise<RunningServer> {
  const started = performance.now();
  // The node bindings (`env`: incoming, outgoing) must reach the app: legacy SSE writes to the raw response.
  let handle: (req: Request, env: unknown) => Response | Promise<Response> = starting;
  // `hostname` is what a request without a Host header (HTTP/1.0: load balancers' health checks) is taken to be for.
  const server = createAdaptorServer({
    fetch: (req: Request, env: unknown) => handle(req, env),
    hostname: config.HOST,
  });
  await listen(server, config);
  let ctx: AppContext;
  try {
    ctx = await createContext(config, opts);
  } catch (err) {
    await closeServer(server);
    throw err;
  }
  const { serve, consoleMounted } = createHttpApp(ctx);
  if (!consoleMounted) {
    ctx.warnings.push('Web console not built (run `npm run build`); serving the API and MCP only');
  }
  handle = (req, env) => serve(req, env as HttpBindings);
  const { port } = server.address() as AddressInfo;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  for (const warning of ctx.warnings) ctx.logger.warn(warning);
  // Upstream MCP servers start once this instance can answer calls forwarded to it (INTERNAL_URL: its address
  // as other instances reach it; the listening URL by default).
  void ctx.upstreamSupervisor.begin(config.INTERNAL_URL ?? url);
  ctx.logger.info(
    { url, database: ctx.db.kind, console: consoleMounted, ms: Math.round(performance.now() - started) },
    'skillport listening',
  );
  return {
    url,
    port,
    ctx,
    async stop() {
      await closeServer(server);
      await ctx.close();
    },
  };
}

function listen(server: ServerType, config: Config): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${config.HOST}:${config.PORT}`;
      if (err.code === 'EADDRINUSE') {
        reject(
          new Error(
            `Port ${config.PORT} on ${config.HOST} is already in use (PORT / --port): ` +
              'stop the process listening there, or choose another port',
          ),
        );
      } else if (err.code === 'EACCES') {
        reject(new Error(`Not allowed to listen on ${where} (PORT / --port): ${err.message}`));
      } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
        reject(new Error(`HOST ${config.HOST} is not an address of this machine (HOST / --host)`));
      } else reject(err);
    });
    server.listen(config.PORT, config.HOST, () => resolve());
  });
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
