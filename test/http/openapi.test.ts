import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operationIdFor } from '../../src/http/openapi.js';
import { HealthSchema, ReadinessSchema, ServerInfoSchema } from '../../src/http/system-docs.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

// The document is checked against the server's behaviour, route by route, so that a route added later is held
// to the same rules without this file naming it.

const METRICS_TOKEN = 'metrics-token-for-openapi-tests-0123';
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const SKILL = 'doc-skill';

interface Operation {
  path: string;
  method: string;
  op: any;
}

let t: TestServer;
let api: Api;
let admin: Awaited<ReturnType<typeof registerUser>>;
let member: Awaited<ReturnType<typeof registerUser>>;
let doc: any;
let operations: Operation[];

beforeAll(async () => {
  t = await startTestServer({ METRICS_TOKEN });
  api = new Api(t.baseUrl);
  admin = await registerUser(api, 'docadmin');
  member = await registerUser(api, 'docmember');
  expect((await admin.api.post('/api/v1/skills', await skillZip(SKILL))).status).toBe(201);
  doc = (await api.get('/api/openapi.json')).body;
  operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );
});
afterAll(() => t.close());

/** A concrete URL for a documented path: the test skill, version 1, its SKILL.md, an unknown id. */
function urlOf(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_, param: string) =>
    param === 'name' ? SKILL : param === 'version' ? '1' : param === 'path' ? 'SKILL.md' : randomUUID(),
  );
}

const securityOf = (o: Operation): Array<Record<string, string[]>> => o.op.security ?? doc.security;
const label = (o: Operation) => `${o.method.toUpperCase()} ${o.path}`;

describe('the OpenAPI document', () => {
  it('gives every operation a summary and a unique operationId derived from its method and path', () => {
    expect(operations.length).toBeGreaterThanOrEqual(30);
    const ids = operations.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const o of operations) {
      expect(o.op.summary, label(o)).toMatch(/\S{3}/);
      expect(o.op.operationId, label(o)).toBe(operationIdFor(o.method, o.path));
    }
    expect(operationIdFor('get', '/api/v1/skills/{name}/versions/{version}/files')).toBe(
      'getSkillsByNameVersionsByVersionFiles',
    );
    expect(operationIdFor('post', '/api/v1/auth/register')).toBe('postAuthRegister');
    expect(operationIdFor('get', '/health')).toBe('getHealth');
  });

  it('asks for exactly the credentials the server requires, operation by operation', async () => {
    const publicOps = operations.filter((o) => securityOf(o).length === 0).map(label);
    expect(publicOps.sort()).toEqual(
      [
        'GET /api/v1/info',
        'GET /health',
        'GET /ready',
        'POST /api/v1/auth/login',
        'POST /api/v1/auth/logout',
        'POST /api/v1/auth/refresh',
        'POST /api/v1/auth/register',
      ].sort(),
    );
    for (const o of operations) {
      const res = await api.request(o.method.toUpperCase(), urlOf(o.path), o.op.requestBody ? {} : undefined);
      if (securityOf(o).length === 0) {
        expect(res.status, label(o)).not.toBe(401);
      } else {
        expect(res.status, label(o)).toBe(401);
        expect(o.op.responses['401'], label(o)).toBeDefined();
        expect(res.headers.get('www-authenticate'), label(o)).toMatch(/^Bearer realm=/);
      }
    }
  });

  it('documents the 403 insufficient_scope that a token without the api scope gets', async () => {
    const mcpOnly = api.withToken(await createApiToken(admin.api, ['mcp']));
    const apiOps = operations.filter(
      (o) => o.path.startsWith('/api/v1/') && securityOf(o).some((s) => 'bearer' in s),
    );
    expect(apiOps.length).toBeGreaterThanOrEqual(20);
    for (const o of apiOps) {
      expect(o.op.responses['403']?.description, label(o)).toContain('insufficient_scope');
      const res = await mcpOnly.request(
        o.method.toUpperCase(),
        urlOf(o.path),
        o.op.requestBody ? {} : undefined,
      );
      expect(res.status, label(o)).toBe(403);
      expect(res.body.error.code, label(o)).toBe('insufficient_scope');
    }
  });

  it('marks the administrators-only operations, and they refuse everyone else', async () => {
    const adminOps = operations.filter((o) =>
      /Administrators only/.test(o.op.responses['403']?.description ?? ''),
    );
    expect(adminOps.map(label).sort()).toEqual(
      [
        'DELETE /api/v1/users/{id}',
        'GET /api/v1/admin/search',
        'GET /api/v1/admin/settings',
        'GET /api/v1/users',
        'PATCH /api/v1/admin/settings',
        'PATCH /api/v1/users/{id}',
        'POST /api/v1/admin/search/reindex',
        'POST /api/v1/users',
        'POST /api/v1/users/{id}/password',
      ].sort(),
    );
    for (const o of adminOps) {
      const res = await member.api.request(
        o.method.toUpperCase(),
        urlOf(o.path),
        o.op.requestBody ? {} : undefined,
      );
      expect(res.status, label(o)).toBe(403);
      expect(res.body.error.code, label(o)).toBe('forbidden');
    }
  });

  it('documents 413 and 415 for every body, and a body of another media type gets 415', async () => {
    const withBody = operations.filter((o) => o.op.requestBody);
    expect(withBody.length).toBeGreaterThanOrEqual(12);
    for (const o of withBody) {
      expect(Object.keys(o.op.responses), label(o)).toEqual(expect.arrayContaining(['400', '413', '415']));
      const res = await admin.api.request(o.method.toUpperCase(), urlOf(o.path), 'x'.repeat(10), {
        'content-type': 'text/plain',
      });
      expect(res.status, label(o)).toBe(415);
      expect(res.body.error.code, label(o)).toBe('unsupported_media_type');
    }
    expect((await admin.api.get(`/api/v1/skills/${SKILL}`)).body.current_version).toBe(1);
  });

  it('documents the multipart upload, and a skill uploaded that way is stored', async () => {
    const content = doc.paths['/api/v1/skills'].post.requestBody.content;
    expect(Object.keys(content).sort()).toEqual(['application/zip', 'multipart/form-data']);
    expect(content['multipart/form-data'].schema).toMatchObject({
      required: ['file'],
      properties: { file: { type: 'string', format: 'binary' } },
    });
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(await skillZip('doc-multipart'))]), 'doc-multipart.zip');
    const res = await member.api.post('/api/v1/skills', form);
    expect(res.status).toBe(201);
    expect(res.body.skill.name).toBe('doc-multipart');
  });

  it('documents /health, /ready, /metrics and /api/v1/info as they answer', async () => {
    const schema = (path: string, status: string) => {
      const ref = doc.paths[path].get.responses[status].content['application/json'].schema.$ref;
      return doc.components.schemas[ref.split('/').pop()];
    };
    for (const [path, zod] of [
      ['/health', HealthSchema],
      ['/ready', ReadinessSchema],
      ['/api/v1/info', ServerInfoSchema],
    ] as const) {
      const res = await api.get(path);
      expect(res.status, path).toBe(200);
      // Strict: a field the server adds without documenting it fails here.
      expect(() => zod.strict().parse(res.body), path).not.toThrow();
      expect(Object.keys(schema(path, '200').properties).sort(), path).toEqual(Object.keys(res.body).sort());
    }
    expect(doc.paths['/ready'].get.responses['503']).toBeDefined();
    const metrics = doc.paths['/metrics'].get;
    expect(metrics.security).toEqual([{ metricsToken: [] }, { bearer: [] }]);
    expect(doc.components.securitySchemes.metricsToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    const scrape = await api.get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(Object.keys(metrics.responses['200'].content)).toEqual(['text/plain']);
    expect((await admin.api.get('/metrics')).status).toBe(200);
  });
});
