import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRoute } from '@hono/zod-openapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleError } from '../../src/http/errors.js';
import { jsonBodyLimit } from '../../src/http/middleware.js';
import { createRouter, json, jsonBody, z } from '../../src/http/openapi.js';
import { VERSION } from '../../src/server/context.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
const ALLOWED_ORIGIN = 'https://console.example.com';

let t: TestServer;
let api: Api;
let admin: Awaited<ReturnType<typeof registerUser>>;

beforeAll(async () => {
  t = await startTestServer({
    CORS_ORIGINS: `${ALLOWED_ORIGIN}, https://other.example.com`,
    MAX_JSON_BODY_BYTES: '2048',
    METRICS_TOKEN,
    AUTH_RATE_LIMIT_PER_IP: '1000',
  });
  api = new Api(t.baseUrl);
  admin = await registerUser(api, 'httpadmin');
  // Before the first scrape: the data-dir size is measured then and cached for a minute.
  writeFileSync(path.join(t.dataDir, 'metrics-probe.bin'), Buffer.alloc(12_345));
});
afterAll(() => t.close());

function expectEnvelope(res: { status: number; body: any; headers: Headers }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(res.body).sort()).toEqual(['error', 'success', 'timestamp']);
  expect(res.body.success).toBe(false);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  expect(Number.isNaN(Date.parse(res.body.timestamp))).toBe(false);
}

async function raw(
  method: string,
  urlPath: string,
  body: BodyInit | undefined,
  headers: Record<string, string>,
) {
  const res = await fetch(t.baseUrl + urlPath, { method, headers, body, duplex: 'half' } as RequestInit);
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

describe('error envelope', () => {
  it('answers unknown routes with 404 not_found', async () => {
    expectEnvelope(await api.get('/api/v1/no-such-thing'), 404, 'not_found');
    expectEnvelope(await api.request('PUT', '/api/v1/users/me', {}), 404, 'not_found');
  });

  it('answers a body that is not JSON with 400 invalid_json', async () => {
    const res = await raw('POST', '/api/v1/auth/login', '{"login": "a",', {
      'content-type': 'application/json',
    });
    expectEnvelope(res, 400, 'invalid_json');
  });

  it('answers a wrong or missing content type with 415 unsupported_media_type', async () => {
    const body = JSON.stringify({ login: 'someone', password: 'something-long' });
    expectEnvelope(
      await raw('POST', '/api/v1/auth/login', body, { 'content-type': 'text/plain' }),
      415,
      'unsupported_media_type',
    );
    expectEnvelope(
      await raw('POST', '/api/v1/auth/login', body, { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'unsupported_media_type',
    );
  });

  it('answers a JSON body over MAX_JSON_BODY_BYTES with 413, declared or streamed', async () => {
    const big = { login: 'someone', password: 'x'.repeat(200), padding: 'p'.repeat(4000) };
    expectEnvelope(await api.post('/api/v1/auth/login', big), 413, 'payload_too_large');
    const bytes = new TextEncoder().encode(JSON.stringify(big));
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
    expectEnvelope(
      await raw('POST', '/api/v1/auth/login', stream, { 'content-type': 'application/json' }),
      413,
      'payload_too_large',
    );
    // Just under the limit is fine (and fails on its merits).
    const small = await api.post('/api/v1/auth/login', { login: 'someone', password: 'x'.repeat(100) });
    expect(small.status).toBe(401);
  });

  // Hono's validators parse `Application/JSON` and `+json` media types as JSON, so the limit must cover them too.
  // jsonBodyLimit() does; the server gets it once src/server/http-app.ts uses it instead of its inline prefix test.
  it('jsonBodyLimit caps every spelling of the JSON media type', async () => {
    const app = createRouter();
    app.onError(handleError);
    app.use('*', jsonBodyLimit(1024));
    app.openapi(
      createRoute({
        method: 'post',
        path: '/echo',
        request: { body: jsonBody(z.object({ pad: z.string() })) },
        responses: { 200: json(z.object({ n: z.number() })) },
      }),
      (c) => c.json({ n: c.req.valid('json').pad.length }, 200),
    );
    const send = (type: string, size: number) =>
      app.request('/echo', {
        method: 'POST',
        headers: { 'content-type': type },
        body: JSON.stringify({ pad: 'p'.repeat(size) }),
      });
    for (const type of [
      'application/json',
      'Application/JSON',
      'application/vnd.api+json',
      'application/json; charset=utf-8',
    ]) {
      expect((await send(type, 4000)).status, type).toBe(413);
      expect((await send(type, 100)).status, type).toBe(200);
    }
    expect((await send('text/plain', 4000)).status).toBe(415);
  });

  it.skipIf(!readFileSync(path.join(ROOT, 'src/server/http-app.ts'), 'utf8').includes('jsonBodyLimit('))(
    'the server applies the JSON body limit whatever the spelling of the JSON media type',
    async () => {
      const body = JSON.stringify({ login: 'someone', password: 'x', padding: 'p'.repeat(4000) });
      for (const type of [
        'Application/JSON',
        'application/vnd.api+json',
        'application/json; charset=utf-8',
      ]) {
        const res = await raw('POST', '/api/v1/auth/login', body, { 'content-type': type });
        expect(res.status, type).toBe(413);
      }
    },
  );

  it('lists the offending fields of an invalid request', async () => {
    const res = await admin.api.post('/api/v1/tokens', { name: '', scopes: 'api', expires_at: 5 });
    expectEnvelope(res, 400, 'validation_error');
    const fields = res.body.error.details.fields;
    expect([...new Set(fields.map((f: any) => f.path))].sort()).toEqual(['expires_at', 'name', 'scopes']);
    for (const f of fields) expect(typeof f.message).toBe('string');
    for (const f of fields) expect(res.body.error.message).toContain(f.path);
    const query = await admin.api.get('/api/v1/users?limit=lots');
    expectEnvelope(query, 400, 'validation_error');
    expect(query.body.error.details.fields[0].path).toBe('limit');
  });
});

describe('operations endpoints', () => {
  it('/health answers without credentials', async () => {
    const res = await api.get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('/ready reports the database', async () => {
    const res = await api.get('/ready');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ready', database: true });
  });

  it('/api/openapi.json is an OpenAPI 3.1 document of the auth routes with the bearer scheme', async () => {
    const res = await api.get('/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: VERSION });
    for (const p of ['register', 'login', 'refresh', 'logout']) {
      const op = doc.paths[`/api/v1/auth/${p}`]?.post;
      expect(op, p).toBeDefined();
      expect(op.requestBody.content['application/json'].schema).toBeDefined();
      expect(op.security).toEqual([]);
    }
    for (const [p, method] of [
      ['/api/v1/users/me', 'get'],
      ['/api/v1/users/me', 'delete'],
      ['/api/v1/users/me/password', 'post'],
      ['/api/v1/tokens', 'post'],
      ['/api/v1/tokens/{id}', 'delete'],
      ['/api/v1/users', 'get'],
      ['/api/v1/audit', 'get'],
    ] as const) {
      expect(doc.paths[p]?.[method]?.security, `${method} ${p}`).toEqual([{ bearer: [] }]);
    }
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/api/v1/auth/login'].post.responses['401']).toBeDefined();
    // Every reference resolves.
    const refs = [...res.text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) expect(doc.components.schemas[ref], ref).toBeDefined();
  });

  it('/api/docs is an HTML page whose scripts and styles load', async () => {
    const page = await api.get('/api/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      expect(asset.startsWith('/'), asset).toBe(true); // same origin: allowed by the CSP, works offline
      const res = await api.get(asset);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(
        asset.endsWith('.css') ? /text\/css/ : /javascript/,
      );
      expect(res.text.length).toBeGreaterThan(20);
    }
    const init = await api.get('/api/docs/assets/docs-init.js');
    expect(init.text).toContain('/api/openapi.json');
  });
});

describe('security headers and CORS', () => {
  it('sends a content security policy and no-sniff on every response', async () => {
    for (const res of [
      await api.get('/health'),
      await api.get('/api/v1/users/me'),
      await api.get('/api/docs'),
    ]) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toMatch(/^(DENY|SAMEORIGIN)$/);
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('allows the origins in CORS_ORIGINS and no others', async () => {
    const ok = await api.get('/health', { origin: ALLOWED_ORIGIN });
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    const preflight = await api.request('OPTIONS', '/api/v1/users/me', undefined, {
      origin: ALLOWED_ORIGIN,
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');

    const evil = await api.get('/health', { origin: 'https://evil.example.com' });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const evilPreflight = await api.request('OPTIONS', '/api/v1/users/me', undefined, {
      origin: 'https://evil.example.com',
      'access-control-request-method': 'GET',
    });
    expect(evilPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('/metrics', () => {
  it('needs METRICS_TOKEN or an admin credential', async () => {
    const anon = await api.get('/metrics');
    expectEnvelope(anon, 401, 'unauthorized');
    expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await api.get('/metrics', { authorization: 'Bearer not-the-metrics-token' })).status).toBe(401);
    const user = await registerUser(api);
    expect((await user.api.get('/metrics')).status).toBe(401);
    expect((await api.withToken(await createApiToken(user.api, ['api'])).get('/metrics')).status).toBe(401);

    const byToken = await api.get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(byToken.status).toBe(200);
    expect(byToken.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await admin.api.get('/metrics')).status).toBe(200);
    expect((await api.withToken(await createApiToken(admin.api, ['api'])).get('/metrics')).status).toBe(200);
    expect((await api.withToken(await createApiToken(admin.api, ['mcp'])).get('/metrics')).status).toBe(401);
  });

  it('reports requests by route and status, latency, memory, CPU, database health and data-dir use', async () => {
    await api.get('/health');
    await api.get('/health');
    await api.get('/api/v1/users/me');
    const text = (await admin.api.get('/metrics')).text;
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);

    expect(
      value(/^skillport_http_requests_total\{method="GET",route="\/health",status="200"\} (\d+)$/m),
    ).toBeGreaterThanOrEqual(2);
    expect(
      value(
        /^skillport_http_requests_total\{method="GET",route="\/api\/v1\/users\/me",status="401"\} (\d+)$/m,
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^# TYPE skillport_http_request_duration_seconds histogram$/m);
    expect(
      value(/^skillport_http_request_duration_seconds_count\{method="GET",route="\/health"\} (\d+)$/m),
    ).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(
      /^skillport_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/health"\} \d+$/m,
    );
    expect(value(/^skillport_process_resident_memory_bytes (\d+)/m)).toBeGreaterThan(1_000_000);
    expect(text).toMatch(/^skillport_process_cpu_seconds_total [\d.e+-]+$/m);
    expect(text).toMatch(/^skillport_database_up 1$/m);
    expect(value(/^skillport_data_dir_bytes (\d+)$/m)).toBeGreaterThanOrEqual(12_345);
    expect(value(/^skillport_data_dir_free_bytes (\d+)$/m)).toBeGreaterThan(0);
  });
});

describe('request ids', () => {
  it('echoes the request id in X-Request-Id and writes it in every log line of the request', async () => {
    const res = await api.get('/api/v1/users/me', { 'x-request-id': 'trace-me-12345' });
    expect(res.headers.get('x-request-id')).toBe('trace-me-12345');
    const lines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.req_id === 'trace-me-12345');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ status: 401, route: '/api/v1/users/me' });
  });

  it('makes its own id when none (or a suspicious one) is sent', async () => {
    const a = await api.get('/health');
    const b = await api.get('/health', { 'x-request-id': 'bad id\twith spaces'.padEnd(80, 'x') });
    const idA = a.headers.get('x-request-id')!;
    const idB = b.headers.get('x-request-id')!;
    expect(idA).toMatch(/^[0-9a-f-]{36}$/);
    expect(idB).toMatch(/^[0-9a-f-]{36}$/);
    expect(idA).not.toBe(idB);
    const requestLines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    for (const line of requestLines) expect(line.req_id).toEqual(expect.any(String));
    expect(requestLines.some((l) => l.req_id === idA)).toBe(true);
  });
});

describe('when the database goes away', () => {
  let broken: TestServer;
  let session: Api;
  beforeAll(async () => {
    broken = await startTestServer({ METRICS_TOKEN });
    const u = await registerUser(new Api(broken.baseUrl), 'beforethefall');
    session = u.api;
    const handle = broken.server.ctx.db;
    await handle.close();
    handle.close = async () => undefined; // already closed; the test server's teardown closes it again
  });
  afterAll(() => broken.close());

  it('answers 503 database_unavailable, without stack, SQL or driver text', async () => {
    const anon = new Api(broken.baseUrl);
    for (const res of [
      await session.get('/api/v1/users/me'),
      await anon.post('/api/v1/auth/login', { login: 'beforethefall', password: 'whatever-password' }),
      await anon.post('/api/v1/auth/register', {
        email: 'after@example.com',
        username: 'afterthefall',
        password: 'a-long-enough-password',
      }),
    ]) {
      expectEnvelope(res, 503, 'database_unavailable');
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.body.error.message).toBe('The database is unavailable; try again shortly');
      expect(res.body.error).not.toHaveProperty('details');
      expect(res.text).not.toMatch(/select|insert|users|stack|pglite|pool|at \/|node_modules|Error:/i);
    }
    // Each request is logged with its id and status; no log line carries the query parameters.
    const lines = broken.logs.map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'request' && l.status === 503).length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(JSON.stringify(line)).not.toContain('beforethefall');
  });

  it('keeps /health up, and /ready and /metrics report the database down', async () => {
    const anon = new Api(broken.baseUrl);
    expect((await anon.get('/health')).status).toBe(200);
    const ready = await anon.get('/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'unavailable', database: false });
    const metrics = await anon.get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(metrics.text).toMatch(/^skillport_database_up 0$/m);
  });

  it('sends no CORS headers when CORS_ORIGINS is empty', async () => {
    const res = await new Api(broken.baseUrl).get('/health', { origin: ALLOWED_ORIGIN });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('without a built console', () => {
  it('reports a missing build (startServer then warns in the log and /ready) and leaves / unrouted', async () => {
    const { Hono } = await import('hono');
    const { mountConsole } = await import('../../src/web/console.js');
    const app = new Hono();
    expect(mountConsole(app as never, '/nonexistent/web/dist')).toBe(false);
    expect((await app.request('/')).status).toBe(404);
  });
});
