import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { tables } from '../../src/db/index.js';
import { Api, registerUser } from '../helpers/api.js';
import { connectMcp } from '../helpers/mcp.js';
import { deferred } from '../mcp/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let api: Api;
let admin: Awaited<ReturnType<typeof registerUser>>;
const db = () => t.server.ctx.db.db;
const METRICS_TOKEN = 'metrics-token-for-api-key-tests';
/** A shared assistant (keys may be bound only to assistants their owner can see). */
let ASSISTANT: string;

beforeAll(async () => {
  t = await startTestServer({
    AUTH_RATE_LIMIT_PER_IP: '1000',
    METRICS_TOKEN,
    COMMANDS_ENABLED: 'false',
    OPENAI_API_KEY: 'sk-keys-test',
  });
  api = new Api(t.baseUrl);
  admin = await registerUser(api, 'keysadmin'); // the first account is admin
  const assistant = await admin.api.post('/api/v1/assistants', {
    name: 'keys-bot',
    model: 'm',
    shared: true,
  });
  if (assistant.status !== 201) throw new Error(`assistant create failed: ${assistant.text}`);
  ASSISTANT = assistant.body.id;
});
afterAll(() => t.close());

async function newKey(session: Api, body: Record<string, unknown>) {
  const res = await session.post('/api/v1/api-keys', { name: 'key', ...body });
  if (res.status !== 201) throw new Error(`key create failed: ${res.status} ${res.text}`);
  return res.body as { id: string; token: string } & Record<string, any>;
}

/** The status of an MCP initialize request: 200 when the key may use MCP. */
async function mcpStatus(token: string): Promise<number> {
  const res = await fetch(`${t.baseUrl}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'probe', version: '1' },
      },
    }),
  });
  await res.body?.cancel();
  return res.status;
}

/** What a key may reach: REST management (users/me, skills, keys), MCP, admin routes, metrics. */
async function reach(token: string) {
  const as = api.withToken(token);
  return {
    me: (await as.get('/api/v1/users/me')).status,
    skills: (await as.get('/api/v1/skills')).status,
    keys: (await as.get('/api/v1/api-keys')).status,
    mcp: await mcpStatus(token),
    users: (await as.get('/api/v1/users')).status,
    metrics: (await as.get('/metrics')).status,
  };
}

describe('create and list', () => {
  it('returns the plaintext once with every permission field, and lists it under /api-keys and /tokens', async () => {
    const u = await registerUser(api);
    const res = await u.api.post('/api/v1/api-keys', {
      name: 'chat bot',
      can_call_assistant: true,
      assistant_ids: [ASSISTANT, ASSISTANT],
      restriction: { skills: ['pdf', 'pdf', 'docx'] },
    });
    expect(res.status).toBe(201);
    const token: string = res.body.token;
    expect(token).toMatch(/^ask_live_[0-9a-f]{64}$/);
    expect(res.body).toMatchObject({
      name: 'chat bot',
      prefix: token.slice(0, 12),
      can_manage: false,
      can_call_assistant: true,
      can_use_mcp: false,
      can_admin: false,
      scopes: [],
      assistant_ids: [ASSISTANT],
      restriction: { skills: ['pdf', 'docx'] },
      is_disabled: false,
      revoked_at: null,
    });
    const [row] = await db().select().from(tables.apiTokens).where(eq(tables.apiTokens.id, res.body.id));
    expect(JSON.stringify(row)).not.toContain(token.slice(12));

    for (const path of ['/api/v1/api-keys', '/api/v1/tokens']) {
      const list = await u.api.get(path);
      expect(list.status).toBe(200);
      expect(list.body.items).toHaveLength(1);
      expect(list.body.items[0]).toMatchObject({
        id: res.body.id,
        prefix: token.slice(0, 12),
        can_call_assistant: true,
      });
      expect(list.body.items[0]).not.toHaveProperty('token');
      expect(list.text).not.toContain(token.slice(12));
    }
    // The principal carries the binding and the restriction to the tool layer.
    const principal = await t.server.ctx.apiTokens.authenticate(token);
    expect(principal).toMatchObject({
      userId: u.user.id,
      isAdmin: false,
      via: 'api_token',
      scopes: ['assistants'],
      assistantIds: [ASSISTANT],
      restriction: { skills: ['pdf', 'docx'] },
    });
    const plain = await newKey(u.api, { can_use_mcp: true });
    const plainPrincipal = await t.server.ctx.apiTokens.authenticate(plain.token);
    expect(plainPrincipal).not.toHaveProperty('restriction');
    expect(plainPrincipal).not.toHaveProperty('assistantIds');
  });

  it('refuses keys without a usable permission and every malformed field, keeping nothing', async () => {
    const u = await registerUser(api);
    const none = await u.api.post('/api/v1/api-keys', { name: 'nothing' });
    expect(none.status).toBe(400);
    expect(none.body.error.details.fields[0].path).toBe('can_use_mcp');
    const adminOnly = await u.api.post('/api/v1/api-keys', { name: 'x', can_use_mcp: true, can_admin: true });
    expect(adminOnly.status).toBe(400);
    expect(adminOnly.body.error.details.fields[0].path).toBe('can_admin');
    const bad = await u.api.post('/api/v1/api-keys', {
      name: '',
      can_manage: 'yes',
      assistant_ids: ['not-a-uuid'],
      restriction: { skills: [''] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields.map((f: any) => f.path).sort()).toEqual([
      'assistant_ids.0',
      'can_manage',
      'name',
      'restriction.skills.0',
    ]);
    const tooMany = await u.api.post('/api/v1/api-keys', {
      name: 'x',
      can_use_mcp: true,
      restriction: { skills: Array.from({ length: 101 }, (_, i) => `s${i}`) },
    });
    expect(tooMany.status).toBe(400);
    expect((await u.api.get('/api/v1/api-keys')).body.items).toHaveLength(0);
  });
});

describe('permissions against representative routes', () => {
  it('each combination reaches exactly what it allows; disabled, expired and revoked keys reach nothing', async () => {
    const u = await registerUser(api);
    const manage = await newKey(u.api, { can_manage: true });
    const mcp = await newKey(u.api, { can_use_mcp: true });
    const assistants = await newKey(u.api, { can_call_assistant: true });
    const both = await newKey(u.api, { can_manage: true, can_use_mcp: true });
    expect(await reach(manage.token)).toEqual({
      me: 200,
      skills: 200,
      keys: 200,
      mcp: 403,
      users: 403,
      metrics: 401,
    });
    expect(await reach(mcp.token)).toEqual({
      me: 403,
      skills: 403,
      keys: 403,
      mcp: 200,
      users: 403,
      metrics: 401,
    });
    expect(await reach(assistants.token)).toEqual({
      me: 403,
      skills: 403,
      keys: 403,
      mcp: 403,
      users: 403,
      metrics: 401,
    });
    expect(await reach(both.token)).toEqual({
      me: 200,
      skills: 200,
      keys: 200,
      mcp: 200,
      users: 403,
      metrics: 401,
    });
    const denied = await api.withToken(mcp.token).get('/api/v1/skills');
    expect(denied.body.error.code).toBe('insufficient_scope');

    const refused = { me: 401, skills: 401, keys: 401, mcp: 401, users: 401, metrics: 401 };
    const disabled = await newKey(u.api, { can_manage: true, can_use_mcp: true });
    expect(
      (await u.api.request('PUT', `/api/v1/api-keys/${disabled.id}`, { is_disabled: true })).status,
    ).toBe(200);
    expect(await reach(disabled.token)).toEqual(refused);

    const expired = await newKey(u.api, {
      can_manage: true,
      can_use_mcp: true,
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    await db()
      .update(tables.apiTokens)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(tables.apiTokens.id, expired.id));
    expect(await reach(expired.token)).toEqual(refused);

    const revoked = await newKey(u.api, { can_manage: true, can_use_mcp: true });
    expect((await u.api.delete(`/api/v1/api-keys/${revoked.id}`)).status).toBe(204);
    expect(await reach(revoked.token)).toEqual(refused);

    // The console session of the same user is untouched by all of this.
    expect((await u.api.get('/api/v1/users/me')).status).toBe(200);
    expect((await u.api.get('/api/v1/skills')).status).toBe(200);
  });

  it("an admin's key carries no admin powers unless given can_admin, which a key without them cannot give", async () => {
    const plain = await newKey(admin.api, { can_manage: true });
    expect(plain.can_admin).toBe(false);
    expect(await reach(plain.token)).toMatchObject({ me: 200, users: 403, metrics: 401 });
    const asPlain = api.withToken(plain.token);
    expect((await asPlain.patch(`/api/v1/users/${admin.user.id}`, { disabled: true })).status).toBe(403);

    // A key without admin powers cannot mint one with them, nor raise itself or another key.
    const mint = await asPlain.post('/api/v1/api-keys', { name: 'x', can_manage: true, can_admin: true });
    expect(mint.status).toBe(403);
    expect(mint.body.error.code).toBe('forbidden');
    expect((await asPlain.request('PUT', `/api/v1/api-keys/${plain.id}`, { can_admin: true })).status).toBe(
      403,
    );
    expect((await asPlain.post('/api/v1/tokens', { name: 'legacy', scopes: ['api'] })).body.can_admin).toBe(
      false,
    );

    const powered = await newKey(admin.api, { can_manage: true, can_admin: true });
    expect(await reach(powered.token)).toMatchObject({ me: 200, users: 200, metrics: 200 });
    // Taken away: refused at once (the cached principal is dropped).
    const put = await admin.api.request('PUT', `/api/v1/api-keys/${powered.id}`, { can_admin: false });
    expect(put.status).toBe(200);
    expect(put.body.can_admin).toBe(false);
    expect(await reach(powered.token)).toMatchObject({ me: 200, users: 403, metrics: 401 });

    // On an ordinary user's key the flag gives nothing while the user is not an admin.
    const u = await registerUser(api);
    const flagged = await newKey(u.api, { can_manage: true, can_admin: true });
    expect(await reach(flagged.token)).toMatchObject({ me: 200, users: 403 });
  });

  it('a key can only hand out keys within its own permissions and restriction', async () => {
    const u = await registerUser(api);
    const manager = api.withToken((await newKey(u.api, { can_manage: true })).token);
    const widen = await manager.post('/api/v1/api-keys', { name: 'x', can_manage: true, can_use_mcp: true });
    expect(widen.status).toBe(403);
    expect(widen.body.error.message).toContain('can_use_mcp');
    expect((await manager.post('/api/v1/api-keys', { name: 'x', can_manage: true })).status).toBe(201);

    const restricted = api.withToken(
      (await newKey(u.api, { can_manage: true, restriction: { skills: ['pdf', 'docx'] } })).token,
    );
    expect((await restricted.post('/api/v1/api-keys', { name: 'x', can_manage: true })).status).toBe(403);
    expect(
      (
        await restricted.post('/api/v1/api-keys', {
          name: 'x',
          can_manage: true,
          restriction: { skills: ['xlsx'] },
        })
      ).status,
    ).toBe(403);
    const narrower = await restricted.post('/api/v1/api-keys', {
      name: 'x',
      can_manage: true,
      restriction: { skills: ['pdf'] },
    });
    expect(narrower.status).toBe(201);
    expect(
      (await restricted.request('PUT', `/api/v1/api-keys/${narrower.body.id}`, { restriction: null })).status,
    ).toBe(403);
    // Renaming does not touch the restriction, so it is allowed.
    expect(
      (await restricted.request('PUT', `/api/v1/api-keys/${narrower.body.id}`, { name: 'renamed' })).status,
    ).toBe(200);
  });
});

describe('update', () => {
  it('changes name, permissions, assistants and restriction; applies at once; audits without secrets', async () => {
    const u = await registerUser(api);
    const key = await newKey(u.api, { can_use_mcp: true });
    expect(await mcpStatus(key.token)).toBe(200); // cached now
    const res = await u.api.request('PUT', `/api/v1/api-keys/${key.id}`, {
      name: 'renamed',
      can_use_mcp: false,
      can_manage: true,
      assistant_ids: [ASSISTANT],
      restriction: { skills: ['pdf'] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: key.id,
      name: 'renamed',
      can_manage: true,
      can_use_mcp: false,
      scopes: ['api'],
      assistant_ids: [ASSISTANT],
      restriction: { skills: ['pdf'] },
    });
    expect(await mcpStatus(key.token)).toBe(403);
    expect((await api.withToken(key.token).get('/api/v1/users/me')).status).toBe(200);
    const cleared = await u.api.request('PUT', `/api/v1/api-keys/${key.id}`, {
      restriction: null,
      assistant_ids: [],
    });
    expect(cleared.body).toMatchObject({
      name: 'renamed',
      restriction: null,
      assistant_ids: [],
      can_manage: true,
    });

    const audit = await u.api.get('/api/v1/audit?limit=100');
    const updates = audit.body.items.filter((e: any) => e.action === 'token.update');
    expect(updates).toHaveLength(2);
    expect(updates[1].details).toMatchObject({
      name: 'renamed',
      can_manage: true,
      restriction: { skills: ['pdf'] },
    });
    expect(audit.text).not.toContain(key.token.slice(12));
  });

  it('disables and enables a key; a cached key and an open MCP client are refused at once', async () => {
    const u = await registerUser(api);
    const key = await newKey(u.api, { can_manage: true, can_use_mcp: true });
    const asKey = api.withToken(key.token);
    expect((await asKey.get('/api/v1/users/me')).status).toBe(200); // cached
    const client = await connectMcp(t.baseUrl, key.token);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);

    const off = await u.api.request('PUT', `/api/v1/api-keys/${key.id}`, { is_disabled: true });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ is_disabled: true, revoked_at: null });
    expect((await asKey.get('/api/v1/users/me')).status).toBe(401);
    await expect(client.listTools()).rejects.toThrow();
    await client.close();
    expect((await u.api.get('/api/v1/api-keys')).body.items[0].is_disabled).toBe(true);

    const on = await u.api.request('PUT', `/api/v1/api-keys/${key.id}`, { is_disabled: false });
    expect(on.body.is_disabled).toBe(false);
    expect((await asKey.get('/api/v1/users/me')).status).toBe(200);
  });

  it('ends a legacy SSE stream when its key is disabled or loses the MCP permission', async () => {
    const u = await registerUser(api);
    for (const change of [{ is_disabled: true }, { can_use_mcp: false }]) {
      const key = await newKey(u.api, { can_use_mcp: true, can_manage: true });
      const client = await connectMcp(t.baseUrl, key.token, 'sse');
      const streamError = deferred<Error>();
      client.onerror = (err) => streamError.resolve(err);
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      expect((await u.api.request('PUT', `/api/v1/api-keys/${key.id}`, change)).status).toBe(200);
      expect((await streamError.promise).message).toMatch(/SSE/i);
      await expect(client.listTools()).rejects.toThrow();
      await client.close();
    }
  });

  it("refuses another user's key (404), a revoked key (409) and malformed changes (400)", async () => {
    const owner = await registerUser(api);
    const intruder = await registerUser(api);
    const key = await newKey(owner.api, { can_manage: true });
    const theirs = await intruder.api.request('PUT', `/api/v1/api-keys/${key.id}`, { is_disabled: true });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('not_found');
    expect((await api.withToken(key.token).get('/api/v1/users/me')).status).toBe(200);
    expect((await intruder.api.delete(`/api/v1/api-keys/${key.id}`)).status).toBe(404);

    for (const body of [
      {},
      { unknown: 1 },
      { name: '' },
      { is_disabled: 'no' },
      { restriction: { skills: 'pdf' } },
    ]) {
      const res = await owner.api.request('PUT', `/api/v1/api-keys/${key.id}`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const none = await owner.api.request('PUT', `/api/v1/api-keys/${key.id}`, { can_manage: false });
    expect(none.status).toBe(400);
    expect((await owner.api.request('PUT', `/api/v1/api-keys/not-a-uuid`, { name: 'x' })).status).toBe(400);
    expect((await owner.api.request('PUT', `/api/v1/api-keys/${ASSISTANT}`, { name: 'x' })).status).toBe(404);

    expect((await owner.api.delete(`/api/v1/api-keys/${key.id}`)).status).toBe(204);
    const revoked = await owner.api.request('PUT', `/api/v1/api-keys/${key.id}`, { is_disabled: false });
    expect(revoked.status).toBe(409);
    expect((await api.withToken(key.token).get('/api/v1/users/me')).status).toBe(401);
  });
});
