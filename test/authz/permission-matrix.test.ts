/**
 * The permission matrix, generated from the route table: every REST operation of the served OpenAPI document
 * (each declares its permission as `x-permission`; one that declares none fails here) and every MCP tool, against
 * every kind of credential — a console session, keys that may manage (with and without can_admin), use MCP or call
 * assistants, a disabled, an expired and a revoked key, a key restricted to one skill, and another user's session.
 * Expected answers come from the rules as users know them, not from the policy code: the REST API needs
 * can_manage (403 `insufficient_scope` otherwise), operations tagged `admin` need admin powers (403 `forbidden`),
 * approving an OAuth client needs a console session (403 `forbidden`), a skill the credential may not reach
 * answers like a missing one (404), dead credentials get 401; anything
 * allowed succeeds (reads 200; writes are sent so that they change nothing, and must get past authorization).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { tables } from '../../src/db/index.js';
import { ACTIONS } from '../../src/authz/index.js';
import { Api, registerUser } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

interface Credential {
  name: string;
  token: string;
  /** How the REST API must answer it, by the user-facing rules. */
  dead?: boolean;
  manage: boolean;
  mcp: boolean;
  admin: boolean;
  /** Skills named in a route are out of its reach (a restriction, or another user's private skill). */
  foreign?: boolean;
  /** A console session (only a person at the console approves an OAuth client). */
  session?: boolean;
}
interface Operation {
  method: string;
  path: string;
  tags: string[];
  permission: string | null | undefined;
}

const REACHABLE = 'matrix-allowed';
const UNREACHABLE = 'matrix-other';
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

let t: TestServer;
let operations: Operation[];
const credentials: Credential[] = [];

beforeAll(async () => {
  t = await startTestServer({ COMMANDS_ENABLED: 'false' });
  const admin = await registerUser(new Api(t.baseUrl), 'matrixadmin');
  const member = await registerUser(new Api(t.baseUrl), 'matrixmember');
  for (const name of [REACHABLE, UNREACHABLE]) {
    expect((await admin.api.post('/api/v1/skills', await skillZip(name, `The ${name} skill.`))).status).toBe(
      201,
    );
  }
  const key = async (body: Record<string, unknown>) => {
    const res = await admin.api.post('/api/v1/api-keys', { name: 'matrix', ...body });
    expect(res.status, res.text).toBe(201);
    return res.body as { id: string; token: string };
  };
  const both = { can_manage: true, can_use_mcp: true };
  const disabled = await key(both);
  expect(
    (await admin.api.request('PUT', `/api/v1/api-keys/${disabled.id}`, { is_disabled: true })).status,
  ).toBe(200);
  const expired = await key({ ...both, expires_at: new Date(Date.now() + 3_600_000).toISOString() });
  // Expiry in the past cannot be asked for; the clock is moved for this key instead (before its first use).
  await t.server.ctx.db.db
    .update(tables.apiTokens)
    .set({ expiresAt: new Date(Date.now() - 1000) })
    .where(eq(tables.apiTokens.id, expired.id));
  const revoked = await key(both);
  expect((await admin.api.delete(`/api/v1/api-keys/${revoked.id}`)).status).toBe(204);

  const no = { manage: false, mcp: false, admin: false };
  credentials.push(
    {
      name: 'admin console session',
      token: admin.api.token!,
      manage: true,
      mcp: true,
      admin: true,
      session: true,
    },
    {
      name: 'member session (admin skills are foreign)',
      token: member.api.token!,
      ...no,
      manage: true,
      mcp: true,
      foreign: true,
      session: true,
    },
    { name: 'can_manage key', token: (await key({ can_manage: true })).token, ...no, manage: true },
    {
      name: 'can_manage + can_admin key',
      token: (await key({ can_manage: true, can_admin: true })).token,
      ...no,
      manage: true,
      admin: true,
    },
    { name: 'MCP key', token: (await key({ can_use_mcp: true })).token, ...no, mcp: true },
    { name: 'can_call_assistant key', token: (await key({ can_call_assistant: true })).token, ...no },
    {
      name: 'restricted key',
      token: (await key({ ...both, restriction: { skills: [REACHABLE] } })).token,
      ...no,
      manage: true,
      mcp: true,
      foreign: true,
    },
    { name: 'disabled key', token: disabled.token, ...no, dead: true },
    { name: 'expired key', token: expired.token, ...no, dead: true },
    { name: 'revoked key', token: revoked.token, ...no, dead: true },
  );

  const doc = (await new Api(t.baseUrl).get('/api/openapi.json')).body;
  operations = Object.entries(doc.paths as Record<string, Record<string, any>>)
    .filter(([path]) => path.startsWith('/api/v1/'))
    .flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({
        method,
        path,
        tags: op.tags ?? [],
        permission: op['x-permission'],
      })),
    );
}, 120_000);
afterAll(() => t?.close());

/**
 * A request for `op` that changes nothing if allowed: writes aim at ids that do not exist, carry bodies the
 * validator refuses, or change nothing (an empty patch). Path parameters by name; `{name}` is the skill.
 */
function requestFor(op: Operation, skill: string): { method: string; path: string; body?: unknown } {
  const key = `${op.method} ${op.path}`;
  const destructive = /^(delete|post) .*\{name\}/.test(key) && !op.path.endsWith('/versions');
  const path = op.path
    .replace('{name}', skill === REACHABLE && destructive ? 'no-such-skill' : skill)
    .replace('{version}', op.method === 'delete' ? '999' : '1')
    .replace('{path}', 'SKILL.md')
    .replace('{id}', MISSING_ID)
    .replace('{uid}', 'no-such-request');
  const queries: Record<string, string> = { 'get /api/v1/search': '?q=matrix' };
  const bodies: Record<string, unknown> = {
    'patch /api/v1/skills/{name}': {},
    'post /api/v1/skills/{name}/rollback': { version: 999 },
    'patch /api/v1/users/me': {},
    'post /api/v1/users/me/password': { current_password: 'not-the-password', new_password: 'x' },
    'delete /api/v1/users/me': { password: 'not-the-password' },
    'patch /api/v1/users/{id}': {},
    'post /api/v1/users/{id}/password': { password: 'long-enough-password-1' },
    'patch /api/v1/admin/settings': {},
    'put /api/v1/api-keys/{id}': { name: 'renamed' },
  };
  return {
    method: op.method.toUpperCase(),
    path: path + (queries[key] ?? ''),
    body: bodies[key] ?? (op.method === 'get' ? undefined : {}),
  };
}

/** What a credential must get, by the rules users are told (see the file's comment). */
function expected(c: Credential, op: Operation): 'allowed' | 401 | 403 | 404 {
  if (c.dead) return 401;
  if (!c.manage) return 403;
  if (op.tags.includes('admin') && !c.admin) return 403;
  if (op.path.startsWith('/api/v1/oauth/authorizations') && !c.session) return 403;
  if (op.path.includes('{name}') && c.foreign) return 404;
  return 'allowed';
}

describe('the REST route table', () => {
  it('declares a known permission on every operation', () => {
    expect(operations.length).toBeGreaterThan(30);
    for (const op of operations) {
      expect(op.permission, `${op.method} ${op.path} declares no permission`).toBeTruthy();
      expect(['public', ...ACTIONS], `${op.method} ${op.path}`).toContain(op.permission);
    }
  });

  it('answers every credential on every operation as the rules say', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const c of credentials) {
      const api = new Api(t.baseUrl, c.token);
      for (const op of operations.filter((o) => o.permission !== 'public')) {
        const want = expected(c, op);
        const skill = c.foreign ? UNREACHABLE : REACHABLE;
        const target = c.name.startsWith('member') ? REACHABLE : skill;
        const req = requestFor(op, target);
        const res = await api.request(req.method, req.path, req.body);
        checked++;
        const ok =
          want === 'allowed'
            ? op.method === 'get' && !/\{(uid|id)\}/.test(op.path)
              ? res.status === 200
              : res.status !== 401 && res.status !== 403
            : res.status === want &&
              (want !== 403 || res.body.error.code === (c.manage ? 'forbidden' : 'insufficient_scope'));
        if (!ok)
          failures.push(
            `${c.name}: ${req.method} ${req.path} → ${res.status} (expected ${want}) ${res.text.slice(0, 120)}`,
          );
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(credentials.length * operations.filter((o) => o.permission !== 'public').length);
  }, 120_000);

  it('lists only the reachable skills to a restricted key', async () => {
    const restricted = credentials.find((c) => c.name === 'restricted key')!;
    const res = await new Api(t.baseUrl, restricted.token).get('/api/v1/skills');
    expect(res.body.items.map((s: { name: string }) => s.name)).toEqual([REACHABLE]);
  });
});

/** Arguments for each tool, aimed at a skill; a tool missing here fails the test (it must join the matrix). */
const TOOL_ARGUMENTS: Record<string, (skill: string) => Record<string, unknown>> = {
  load_skill_metadata: () => ({}),
  load_skill: (skill) => ({ skill_name: skill }),
  read_reference_file: (skill) => ({ skill_name: skill, file_name: 'SKILL.md' }),
  search_skills: (skill) => ({ query: skill }),
  search_tools: (skill) => ({ query: skill }),
  call_tool: (skill) => ({ name: 'load_skill', arguments: { skill_name: skill } }),
};

describe('every MCP tool', () => {
  it('refuses credentials without MCP use at the endpoint: 403, or 401 for dead ones', async () => {
    for (const c of credentials.filter((x) => !x.mcp)) {
      const res = await fetch(`${t.baseUrl}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${c.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
      expect(res.status, c.name).toBe(c.dead ? 401 : 403);
    }
  });

  it('serves every tool to MCP credentials, each within its reach', async () => {
    for (const c of credentials.filter((x) => x.mcp)) {
      const client = await connectMcp(t.baseUrl, c.token);
      try {
        const tools = (await client.listTools()).tools.map((tool) => tool.name);
        expect(tools.length, c.name).toBeGreaterThan(0);
        for (const name of tools) {
          const args = TOOL_ARGUMENTS[name];
          expect(args, `tool ${name} has no entry in the matrix`).toBeDefined();
          const own = c.name.startsWith('member') ? UNREACHABLE : REACHABLE;
          if (!c.name.startsWith('member')) {
            const allowed = await client.callTool({ name, arguments: args!(own) });
            expect(allowed.isError, `${c.name}: ${name}`).toBeFalsy();
          }
          const out = await client.callTool({ name, arguments: args!(UNREACHABLE) });
          const reachable = !c.foreign;
          if (reachable) expect(out.isError, `${c.name}: ${name}`).toBeFalsy();
          else if ('skill_name' in args!(UNREACHABLE)) expect(out.isError, `${c.name}: ${name}`).toBe(true);
          // Listings and search results name skills as list items; the query itself may be echoed.
          else
            expect(resultText(out), `${c.name}: ${name}`).not.toMatch(
              new RegExp(`^- ${UNREACHABLE}\\b`, 'm'),
            );
        }
      } finally {
        await client.close();
      }
    }
  }, 120_000);
});
