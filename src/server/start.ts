import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Config } from '../config/index.js';
import { createHttpApp } from '../http/app.js';
import { createContext, type AppContext, type ContextOptions } from './context.js';

export interface RunningServer {
  url: string;
  port: number;
  ctx: AppContext;
  stop(): Promise<void>;
}

/** Opens the database (migrating it), builds the app and listens. Used by the CLI, tests and benchmarks. */
export async function startServer(config: Config, opts: ContextOptions = {}): Promise<RunningServer> {
  const started = performance.now();
  const ctx = await createContext(config, opts);
  const { app, consoleMounted } = createHttpApp(ctx);
  if (!consoleMounted) {
    ctx.warnings.push('Web console not built (run `npm run build`); serving the API and MCP only');
  }
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  for (const warning of ctx.warnings) ctx.logger.warn(warning);
  ctx.logger.info(
    { url, database: ctx.db.kind, console: consoleMounted, ms: Math.round(performance.now() - started) },
    'skillport listening',
  );
  return {
    url,
    port,
    ctx,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await ctx.close();
    },
  };
}
