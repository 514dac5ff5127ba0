/**
 * Authentication and request validation on every MCP endpoint: `/mcp`, `/sse` and `/messages`.
 */
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken } from '../helpers/api.js';
import { connectMcp } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { callText, deferred, mcpUser, uploadSkill, type McpUser } from './fixtures.js';

let t: TestServer;
let admin: McpUser;
let alice: McpUser;
let bob: McpUser;
let carol: McpUser;

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

beforeAll(async () => {
  t = await startTestServer();
  const anon = new Api(t.baseUrl);
  admin = await mcpUser(anon, 'authadmin');
  alice = await mcpUser(anon, 'authalice');
  bob = await mcpUser(anon, 'authbob');
  carol = await mcpUser(anon, 'authcarol');
  await uploadSkill(alice.api, 'alice-skill', 'Alice only.');
}, 60_000);
afterAll(() => t?.close());

type Endpoint = { name: string; method: string; path: string; body?: unknown };
const endpoints: Endpoint[] = [
  { name: 'POST /mcp', method: 'POST', path: '/mcp', body: INIT },
  { name: 'GET /sse', method: 'GET', path: '/sse' },
  {
    name: 'POST /messages',
    method: 'POST',
    path: '/messages?sessionId=00000000-0000-0000-0000-000000000000',
    body: INIT,
  },
];

async function hit(e: Endpoint, headers: Record<string, string>): Promise<Response> {
  return fetch(t.baseUrl + e.path, {
    method: e.method,
    headers: {
      accept: 'application/json, text/event-stream',
      ...(e.body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: e.body ? JSON.stringify(e.body) : undefined,
  });
}

async function expect401(res: Response) {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="skillport"/);
  const body = await res.json();
  expect(body).toMatchObject({
    success: false,
    error: { code: 'unauthorized', message: expect.any(String) },
  });
  expect(typeof body.timestamp).toBe('string');
}

/**
 * Opens a raw legacy SSE stream: returns the message endpoint it announces and a promise that settles when the
 * server ends the stream.
 */
async function openRawSse(token: string): Promise<{ endpoint: string; ended: Promise<void>; abort(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${t.baseUrl}/sse`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  let buffer = '';
  while (!/event: endpoint\ndata: (.*)\n/.test(buffer)) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended before the endpoint event');
    buffer += new TextDecoder().decode(value);
  }
  // Settles when the body ends, cleanly or not (the server closing the socket counts as ending the stream).
  const ended = (async () => {
    for (;;) if ((await reader.read()).done) return;
  })().catch(() => undefined);
  return {
    endpoint: /event: endpoint\ndata: (.*)\n/.exec(buffer)![1]!,
    ended,
    abort: () => controller.abort(),
  };
}

const tokenId = async (owner: McpUser, name: string): Promise<string> => {
  const list = await owner.api.get('/api/v1/tokens?limit=100');
  return list.body.items.find((x: any) => x.name === name && !x.revoked_at).id;
};

describe.each(endpoints)('$name', (e) => {
  it('401 without a token', async () => expect401(await hit(e, {})));

  it('401 with malformed credentials', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'ask_live_' + 'a'.repeat(64)])
      await expect401(await hit(e, { authorization }));
  });

  it('401 with an unknown token', async () => {
    await expect401(await hit(e, { authorization: `Bearer ask_live_${randomBytes(32).toString('hex')}` }));
    await expect401(await hit(e, { authorization: 'Bearer not-a-jwt-nor-a-token' }));
  });

  it('401 with a revoked token', async () => {
    const token = await createApiToken(alice.api, ['mcp'], 'to-revoke');
    expect((await alice.api.delete(`/api/v1/tokens/${await tokenId(alice, 'to-revoke')}`)).status).toBe(204);
    await expect401(await hit(e, { authorization: `Bearer ${token}` }));
  });

  it('401 with an expired token', async () => {
    const token = await createApiToken(alice.api, ['mcp'], 'to-expire');
    // Expire it in the database before its first use (so no cached copy exists).
    await t.server.ctx.db.db.execute(
      sql`update api_tokens set expires_at = now() - interval '1 minute' where name = 'to-expire'`,
    );
    await expect401(await hit(e, { authorization: `Bearer ${token}` }));
  });

  it('403 insufficient_scope for a token with only the api scope', async () => {
    const token = await createApiToken(alice.api, ['api'], 'api-only');
    const res = await hit(e, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(await res.json()).toMatchObject({ success: false, error: { code: 'insufficient_scope' } });
  });
});

describe('disabled users', () => {
  it('get 401 on every endpoint', async () => {
    const token = await createApiToken(carol.api, ['mcp'], 'carol-2');
    const res = await admin.api.patch(`/api/v1/users/${carol.user.id}`, { disabled: true });
    expect(res.status).toBe(200);
    try {
      for (const e of endpoints) {
        await expect401(await hit(e, { authorization: `Bearer ${token}` }));
        await expect401(await hit(e, { authorization: `Bearer ${carol.token}` }));
      }
    } finally {
      await admin.api.patch(`/api/v1/users/${carol.user.id}`, { disabled: false });
    }
  });
});

describe('legacy SSE sessions', () => {
  it("answers 404 to a message posted with another user's token, and accepts the owner's", async () => {
    const sse = await openRawSse(alice.token);
    try {
      expect(sse.endpoint).toMatch(/^\/messages\?sessionId=[\w-]+$/);
      const post = (token: string) =>
        fetch(t.baseUrl + sse.endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(INIT),
        });
      const foreign = await post(bob.token);
      expect(foreign.status).toBe(404);
      expect(await foreign.json()).toMatchObject({ success: false, error: { code: 'not_found' } });
      const own = await post(alice.token);
      expect(own.status).toBe(202);
    } finally {
      sse.abort();
    }
  });

  it('closes the stream when the token that opened it is revoked', async () => {
    const token = await createApiToken(alice.api, ['mcp'], 'sse-revoke');
    const other = await createApiToken(alice.api, ['mcp'], 'sse-keep');
    const raw = await openRawSse(token);
    const kept = await openRawSse(other);
    const client = await connectMcp(t.baseUrl, token, 'sse');
    // The SDK's SSEClientTransport reports a stream the server ended through onerror (its EventSource then
    // tries to reconnect); it fires onclose only when the client itself closes.
    const streamError = deferred<Error>();
    client.onerror = (err) => streamError.resolve(err);
    expect(await callText(client, 'load_skill_metadata')).toContain('alice-skill');

    expect((await alice.api.delete(`/api/v1/tokens/${await tokenId(alice, 'sse-revoke')}`)).status).toBe(204);
    await raw.ended;
    expect((await streamError.promise).message).toMatch(/SSE/i);
    await expect(client.callTool({ name: 'load_skill_metadata', arguments: {} })).rejects.toThrow();
    const closed = deferred();
    client.onclose = () => closed.resolve();
    await client.close();
    await closed.promise;

    // The stream opened with the user's other token stays open and usable.
    const post = await fetch(t.baseUrl + kept.endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json' },
      body: JSON.stringify(INIT),
    });
    expect(post.status).toBe(202);
    kept.abort();
  });

  it('ends a /mcp subscriptions/listen stream when its token is revoked', async () => {
    const token = await createApiToken(alice.api, ['mcp'], 'listen-revoke');
    const other = await createApiToken(alice.api, ['mcp'], 'listen-keep');
    const client = await connectMcp(t.baseUrl, token, 'modern');
    const keptClient = await connectMcp(t.baseUrl, other, 'modern');
    try {
      const sub = await client.listen({ resourcesListChanged: true });
      const kept = await keptClient.listen({ resourcesListChanged: true });
      let keptEnded = false;
      void kept.closed.then(() => (keptEnded = true));
      expect((await alice.api.delete(`/api/v1/tokens/${await tokenId(alice, 'listen-revoke')}`)).status).toBe(
        204,
      );
      expect(await sub.closed).toBe('remote');
      // The other token's stream still delivers: a change reaches it.
      const got = deferred();
      keptClient.setNotificationHandler('notifications/resources/list_changed', () => got.resolve());
      await uploadSkill(alice.api, 'after-revoke', 'Uploaded after the revocation.');
      await got.promise;
      expect(keptEnded).toBe(false);
      await kept.close();
    } finally {
      await client.close();
      await keptClient.close();
    }
  });

  it('closes the stream when the user is disabled', async () => {
    const raw = await openRawSse(bob.token);
    try {
      expect((await admin.api.patch(`/api/v1/users/${bob.user.id}`, { disabled: true })).status).toBe(200);
      await raw.ended;
    } finally {
      await admin.api.patch(`/api/v1/users/${bob.user.id}`, { disabled: false });
    }
  });
});

/** Raw HTTP, because fetch does not let a caller choose the Host header. */
function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: data }));
      // An accepted SSE stream never ends by itself: the status is all we need.
      if (res.headers['content-type']?.startsWith('text/event-stream')) {
        resolve({ status: res.statusCode!, body: '' });
        req.destroy();
      }
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

describe('DNS rebinding protection', () => {
  const auth = () => ({ authorization: `Bearer ${alice.token}` });
  const json = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

  it('refuses a foreign Host header with 403 on every endpoint', async () => {
    for (const e of endpoints) {
      const res = await rawRequest(
        e.method,
        e.path,
        { ...auth(), ...json, host: 'evil.example' },
        e.body ? JSON.stringify(e.body) : undefined,
      );
      expect(res.status, e.name).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({ success: false, error: { code: 'forbidden_origin' } });
    }
  });

  it('refuses a foreign Origin with 403 and accepts our own', async () => {
    for (const e of endpoints) {
      const res = await hit(e, { ...auth(), origin: 'https://evil.example' });
      expect(res.status, e.name).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 'forbidden_origin' } });
    }
    const ok = await hit(endpoints[0]!, { ...auth(), origin: t.baseUrl });
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    const localHost = await rawRequest(
      'POST',
      '/mcp',
      { ...auth(), ...json, host: `localhost:${new URL(t.baseUrl).port}` },
      JSON.stringify(INIT),
    );
    expect(localHost.status).toBe(200);
  });
});
