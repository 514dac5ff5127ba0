import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import type { ContextOptions } from '../../src/server/context.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface TestServer {
  baseUrl: string;
  server: RunningServer;
  /** Every log line the server wrote, as raw JSON text. */
  logs: string[];
  secretKey: string;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * A real Skillport server on a free port, with its own data dir and its own database (PGlite or PostgreSQL,
 * see SKILLPORT_TEST_DB). Log lines are captured so tests can assert on them.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  opts: { sharedDatabase?: TestDatabase; context?: Omit<ContextOptions, 'database' | 'logDestination'> } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'skillport-test-'));
  // A shared database belongs to the caller (several instances of one deployment); it is not disposed here.
  const database = opts.sharedDatabase ?? (await createTestDatabase());
  const dispose = () => (opts.sharedDatabase ? Promise.resolve() : database.dispose());
  const secretKey = randomBytes(32).toString('hex');
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = loadConfig({
    // Each test server gets its own limits; a test that needs a low one passes it in `env`.
    AUTH_RATE_LIMIT_PER_IP: '1000',
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SECRET_KEY: secretKey,
    LOG_LEVEL: 'debug',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  let server: RunningServer;
  try {
    server = await startServer(config, { ...opts.context, database: database.handle, logDestination });
  } catch (err) {
    await dispose();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    baseUrl: server.url,
    server,
    logs,
    secretKey,
    dataDir,
    async close() {
      await server.stop();
      await dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Two instances of one deployment, in this process: one database, one Redis (TEST_REDIS_URL, default
 * 127.0.0.1:6379) under a key prefix of this run's own, one SECRET_KEY (console sessions work on both).
 */
export async function startTwoInstances(env: Record<string, string> = {}): Promise<{
  a: TestServer;
  b: TestServer;
  close(): Promise<void>;
}> {
  const db = await createTestDatabase();
  const deployment = {
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `skillport-test-${randomBytes(4).toString('hex')}:`,
    SECRET_KEY: randomBytes(32).toString('hex'),
    ...env,
  };
  const a = await startTestServer(deployment, { sharedDatabase: db });
  const b = await startTestServer(deployment, { sharedDatabase: db });
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await db.dispose();
    },
  };
}
