import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Api, registerUser } from '../helpers/api.js';
import { freePort } from '../helpers/pg-cluster.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Redis that goes away after the server started: logins are answered 503 `rate_limiter_unavailable` with a
 * Retry-After (failing open would allow unlimited password guesses), never 500, and work again once Redis is
 * back. The Redis here is a throwaway redis-server of this test, on a port of its own.
 */
let port: number;
let redis: ChildProcess | undefined;
let t: TestServer;

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
}

async function stopRedis(): Promise<void> {
  if (!redis || redis.exitCode !== null) return;
  const exited = once(redis, 'exit');
  redis.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  t = await startTestServer({ REDIS_URL: `redis://127.0.0.1:${port}` });
});
afterAll(async () => {
  await t?.close();
  await stopRedis();
});

describe('Redis rate limiter when Redis becomes unreachable', () => {
  it('answers logins 503 rate_limiter_unavailable with Retry-After, then serves them again', async () => {
    const api = new Api(t.baseUrl);
    const { email, password } = await registerUser(api, 'redisdown');
    const login = () => api.post('/api/v1/auth/login', { login: email, password });
    expect((await login()).status).toBe(200);

    await stopRedis();
    for (const res of [
      await login(),
      await api.post('/api/v1/auth/login', { login: email, password: 'wrong-guess-1' }),
    ]) {
      expect(res.status, res.text).toBe(503);
      expect(res.body.error.code).toBe('rate_limiter_unavailable');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(res.body.error.details.retry_after).toBe(Number(res.headers.get('retry-after')));
    }
    expect(t.logs.filter((l) => l.includes('unhandled error'))).toEqual([]);

    await startRedis();
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await login()).status) !== 200) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });
});
