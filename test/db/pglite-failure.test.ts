import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { TEST_DB_KIND } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The embedded PGlite engine failing under a running server (closed, or its WebAssembly engine aborted) must
 * not take the process down: requests get a clear 503 and /ready says the database is away, at once.
 */
let t: TestServer;
beforeAll(async () => {
  if (TEST_DB_KIND === 'pglite') t = await startTestServer({ COMMANDS_ENABLED: 'false' });
});
afterAll(async () => {
  await t?.close().catch(() => undefined); // the database was closed under it on purpose
});

describe.skipIf(TEST_DB_KIND !== 'pglite')('a failed embedded database', () => {
  it('answers 503 database_unavailable and /ready 503 instead of crashing', async () => {
    const { api } = await registerUser(new Api(t.baseUrl), 'pgliteuser');
    expect((await api.get('/api/v1/skills')).status).toBe(200);
    await t.server.ctx.db.close();

    const res = await api.get('/api/v1/skills');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('database_unavailable');
    expect(res.headers.get('retry-after')).toBe('2');
    const started = performance.now();
    const ready = await new Api(t.baseUrl).get('/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'unavailable', database: false });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect((await new Api(t.baseUrl).get('/health')).status).toBe(200);
  });
});
