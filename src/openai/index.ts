import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../http/types.js';
import { jsonBodyLimit } from '../http/middleware.js';
import type { AppContext } from '../server/context.js';
import { PendingToolTurns } from './pending.js';
import { openAiRoutes } from './routes.js';

/** How often expired hidden steps are deleted (any instance may do it; it is idempotent). */
const SWEEP_MS = 15 * 60 * 1000;

/** Mounts the OpenAI-compatible edge at `/v1` (its own error shape, not the REST envelope). */
export function mountOpenAi(app: OpenAPIHono<AppEnv>, ctx: AppContext): void {
  const pending = new PendingToolTurns(ctx.db.db);
  const sweep = () => Promise.all([pending.sweep(), ctx.sessions.sweep()]);
  const timer = setInterval(() => void sweep().catch(() => undefined), SWEEP_MS);
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
