import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import {
  HOSTILE_CURSORS,
  POISONS,
  URL_POISONS,
  poisonedVariants,
  sampleOf,
  type JsonSchema,
} from '../helpers/poison.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { MAX_FIELD_NAME } from '../../src/shared/text.js';
import { skillZip, yazlZip } from '../helpers/zips.js';

/**
 * Text no store can hold (NUL, lone surrogates) and hostile cursors, sent to every field of every route the
 * OpenAPI document lists: each must be a 400 in the error envelope naming the field, never a 500. The cases are
 * generated from /api/openapi.json, so a route added later is covered without editing this file.
 */

interface Operation {
  parameters?: Array<{ in: string; name: string; schema: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema: JsonSchema & { $ref?: string } }> };
}

interface Case {
  label: string;
  method: string;
  url: string;
  body?: unknown;
  /** The field the error must name. */
  field: string;
}

let t: TestServer;
let admin: Api;
const cases: Case[] = [];
const cursorCases: Array<{ label: string; url: string }> = [];
const known: Record<string, string> = {};

/** Values that make every other part of a request valid, so that only the poisoned field can be wrong. */
const validParam = (name: string, schema: JsonSchema): string =>
  known[name] ?? String(sampleOf(schema, name));

/** `valid` with the poison after its first character, as it travels in a URL. */
const urlPoisoned = (valid: string, poison: string) =>
  encodeURIComponent(valid.slice(0, 1)) + poison + encodeURIComponent(valid.slice(1));

function buildCases(doc: {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}) {
  const resolve = (s: JsonSchema & { $ref?: string }): JsonSchema =>
    s.$ref ? doc.components!.schemas![s.$ref.split('/').pop()!]! : s;
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = op.parameters ?? [];
      const pathParams = params.filter((p) => p.in === 'path');
      const queryParams = params.filter((p) => p.in === 'query');
      const urlWith = (override: { name: string; raw: string } | null, query = '') =>
        pathParams.reduce(
          (u, p) =>
            u.replace(
              `{${p.name}}`,
              override?.name === p.name ? override.raw : encodeURIComponent(validParam(p.name, p.schema)),
            ),
          template,
        ) + query;
      const bodySchema = op.requestBody?.content?.['application/json']?.schema;
      const validBody = bodySchema ? sampleOf(resolve(bodySchema)) : undefined;
      const M = method.toUpperCase();
      for (const [kind, poison] of Object.entries(POISONS)) {
        const inUrl = URL_POISONS[kind]!;
        for (const p of pathParams) {
          const raw = urlPoisoned(validParam(p.name, p.schema), inUrl);
          cases.push({
            label: `${M} ${template}: ${kind} in path parameter ${p.name}`,
            method: M,
            url: urlWith({ name: p.name, raw }),
            body: validBody,
            // A NUL decodes into the parameter; the bytes of a lone surrogate are not UTF-8 at all.
            field: kind === 'nul' ? p.name : '(path)',
          });
        }
        for (const p of queryParams) {
          const raw = urlPoisoned(validParam(p.name, p.schema), inUrl);
          cases.push({
            label: `${M} ${template}: ${kind} in query parameter ${p.name}`,
            method: M,
            url: urlWith(null, `?${p.name}=${raw}`),
            body: validBody,
            field: p.name,
          });
        }
        if (bodySchema) {
          for (const v of poisonedVariants(resolve(bodySchema), poison)) {
            cases.push({
              label: `${M} ${template}: ${kind} in body field ${v.field}`,
              method: M,
              url: urlWith(null),
              body: v.value,
              field: v.field,
            });
          }
        }
      }
      if (queryParams.some((p) => p.name === 'cursor')) {
        const extras = template.endsWith('/skills') ? ['', '&q=demo'] : [''];
        for (const [label, cursor] of Object.entries(HOSTILE_CURSORS)) {
          for (const extra of extras) {
            cursorCases.push({
              label: `${M} ${template}${extra}: ${label}`,
              url: urlWith(null, `?cursor=${encodeURIComponent(cursor)}${extra}`),
            });
          }
        }
      }
    }
  }
}

beforeAll(async () => {
  t = await startTestServer();
  const api = new Api(t.baseUrl);
  const alice = await registerUser(api, 'textalice'); // the first account: an administrator
  admin = alice.api;
  expect((await admin.post('/api/v1/skills', await skillZip('demo', 'A demo skill'))).status).toBe(201);
  await createApiToken(admin, ['mcp'], 'probe');
  const tokens = await admin.get('/api/v1/tokens');
  Object.assign(known, {
    name: 'demo',
    version: '1',
    path: 'SKILL.md',
    id: tokens.body.items[0].id,
  });
  const doc = await admin.get('/api/openapi.json');
  expect(doc.status).toBe(200);
  buildCases(doc.body);
});
afterAll(async () => {
  await t?.close();
});

describe('text no store can hold, in every field of every route', () => {
  it('covers every route and every text field the OpenAPI document lists', () => {
    // A guard against the generator quietly producing nothing: these are known fields of known routes.
    const labels = cases.map((c) => c.label);
    for (const expected of [
      'POST /api/v1/auth/register: nul in body field username',
      'POST /api/v1/auth/login: lone high surrogate in body field login',
      'POST /api/v1/tokens: lone low surrogate in body field name',
      'GET /api/v1/skills/{name}: nul in path parameter name',
      'GET /api/v1/skills/{name}/versions/{version}/files/{path}: nul in path parameter path',
      'GET /api/v1/skills: lone high surrogate in query parameter q',
      'GET /api/v1/users: nul in query parameter cursor',
    ]) {
      expect(labels).toContain(expected);
    }
    expect(cases.length).toBeGreaterThan(120);
  });

  it('answers each with 400 invalid_input naming the field', async () => {
    const failures: string[] = [];
    for (const c of cases) {
      const res = await admin.request(c.method, c.url, c.body);
      const error = res.body?.error;
      const ok =
        res.status === 400 &&
        res.body?.success === false &&
        error?.code === 'invalid_input' &&
        error.details?.fields?.[0]?.path === c.field;
      if (!ok) failures.push(`${c.label}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
  });

  it('answers each hostile pagination cursor with 400 naming the cursor', async () => {
    expect(cursorCases.length).toBeGreaterThanOrEqual(4 * Object.keys(HOSTILE_CURSORS).length);
    const failures: string[] = [];
    for (const c of cursorCases) {
      const res = await admin.get(c.url);
      const ok =
        res.status === 400 &&
        res.body?.success === false &&
        res.body.error?.details?.fields?.[0]?.path === 'cursor';
      if (!ok) failures.push(`${c.label}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
  });

  it('walks a body nested 200,000 levels deep without overflowing the stack', async () => {
    const deep = '['.repeat(200_000) + '"\\u0000"' + ']'.repeat(200_000);
    const raw = await fetch(`${t.baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"login": ${deep}, "password": "x"}`,
    });
    const body = await raw.json();
    expect(raw.status).toBe(400);
    expect(body.error).toMatchObject({ code: 'invalid_input' });
    const field: string = body.error.details.fields[0].path;
    expect(field).toMatch(/^login(\.0)+…$/);
    expect(field.length).toBeLessThanOrEqual(MAX_FIELD_NAME);
  });

  it('still accepts the valid values the cases were built from', async () => {
    expect((await admin.get('/api/v1/skills/demo/versions/1/files/SKILL.md')).status).toBe(200);
    const page = await admin.get('/api/v1/skills?limit=1&q=demo');
    expect(page.body.items.map((s: any) => s.name)).toEqual(['demo']);
  });
});

describe('SKILL.md text that cannot be stored', () => {
  const upload = (md: string) =>
    yazlZip([{ path: 'odd/SKILL.md', data: md }]).then((zip) => admin.post('/api/v1/skills', zip));
  const skillMd = (frontmatter: string, body = '# Odd\n') => `---\n${frontmatter}\n---\n${body}`;

  it.each([
    [
      'a NUL in the body',
      skillMd('name: odd\ndescription: Odd', '# Odd\n\nbad \u0000 byte\n'),
      /NUL.*line 7/,
    ],
    [
      'a NUL escape in the description',
      skillMd('name: odd\ndescription: "bad \\0 text"'),
      /description.*NUL/,
    ],
    [
      'a lone surrogate escape in the name',
      skillMd('name: "odd\\ud800"\ndescription: Odd'),
      /name.*surrogate/,
    ],
    [
      'a lone surrogate escape in a metadata value',
      skillMd('name: odd\ndescription: Odd\nmetadata:\n  author: "\\udfff"'),
      /metadata\.author.*surrogate/,
    ],
    [
      'a lone surrogate escape in a metadata key',
      skillMd('name: odd\ndescription: Odd\nmetadata:\n  "k\\ud800": v'),
      /metadata\.k.*surrogate/,
    ],
    [
      'a self-referencing alias in metadata',
      skillMd('name: odd\ndescription: Odd\nmetadata:\n  x: &x [*x]'),
      /metadata\.x.*recursive YAML alias/,
    ],
  ])('refuses %s with 422 invalid_skill naming SKILL.md', async (_label, md, message) => {
    const res = await upload(md);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('invalid_skill');
    expect(res.body.error.message).toMatch(/^SKILL\.md /);
    expect(res.body.error.message).toMatch(message);
  });

  it('refuses the same in a new version of an existing skill', async () => {
    const zip = await yazlZip([
      { path: 'demo/SKILL.md', data: skillMd('name: demo\ndescription: "x \\0 y"') },
    ]);
    const res = await admin.post('/api/v1/skills/demo/versions', zip);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/description must not contain a NUL/);
    expect((await admin.get('/api/v1/skills/demo')).body.current_version).toBe(1);
  });
});

describe('access tokens', () => {
  // A live session id, so that only the subject decides: the admin's own, read from its access token.
  const sessionId = () => JSON.parse(Buffer.from(admin.token!.split('.')[1]!, 'base64url').toString()).sid;
  const sign = (sub: string) =>
    new SignJWT({ type: 'access', sid: sessionId() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(t.secretKey));

  it.each([['not-a-uuid'], ['\u0000'], ['\ud800'], ["1' or '1'='1"]])(
    'refuses a validly signed token whose subject %j is not a user id with 401',
    async (sub) => {
      const res = await admin.withToken(await sign(sub)).get('/api/v1/users/me');
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
      expect(res.headers.get('www-authenticate')).toContain('invalid_token');
    },
  );

  it('accepts a token signed the same way for a real user id (the test signs correctly)', async () => {
    const me = await admin.get('/api/v1/users/me');
    const res = await admin.withToken(await sign(me.body.id)).get('/api/v1/users/me');
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(me.body.id);
  });
});

it('logged no unhandled error for any of it', () => {
  expect(t.logs.filter((l) => l.includes('unhandled error'))).toEqual([]);
});
