import type { Config } from '../config/index.js';
import { createLogger, loggableError } from '../observability/index.js';
import { startServer } from './start.js';
import { announceReady, isWorkerProcess, startPrimary, workerIndex, workerRelay } from './workers.js';

/**
 * `skillport serve`: one server process, or (WORKERS > 1) a primary and its workers, each worker being this
 * same command in a `node:cluster` child. Resolves once listening, with the URL to announce (none in a worker:
 * its primary announces); signals stop it.
 */
export async function serve(config: Config): Promise<string | null> {
  if (config.WORKERS > 1 && !isWorkerProcess()) return servePrimary(config);
  const worker = isWorkerProcess();
  const server = await startServer(
    config,
    worker ? { sseRelay: workerRelay(), logBindings: { worker: workerIndex() } } : {},
  );
  let stopping = false;
  // A worker may hear several (SIGINT from the terminal's process group, SIGTERM from its primary, then the
  // primary's exit): it stops once.
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.ctx.logger.info({ signal }, 'shutting down');
    await server.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  // A promise nobody awaited that failed (a database driver, a client gone mid-request) must not stop the
  // server for every user: it is logged. An uncaught exception still ends the process (state unknown).
  process.on('unhandledRejection', (reason) =>
    server.ctx.logger.error({ err: loggableError(reason) }, 'unhandled promise rejection'),
  );
  if (worker) {
    // A worker never outlives its primary, however the primary ended.
    process.once('disconnect', () => void shutdown('primary gone'));
    announceReady(server.url);
    return null;
  }
  return server.url;
}

async function servePrimary(config: Config): Promise<string> {
  const logger = createLogger(config.LOG_LEVEL);
  const primary = await startPrimary(config, logger);
  let stopping = false;
  const shutdown = async (signal: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down the workers');
    await primary.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown('SIGINT', 0));
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  void primary.failed.then((err) => {
    logger.error({ err: err.message }, 'a worker failed to start');
    void shutdown('worker failure', 1);
  });
  return primary.url;
}
