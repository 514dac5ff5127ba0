/**
 * OAuth 2.1 for /mcp over real HTTP: discovery documents, the challenge on 401/403, the code flow with PKCE,
 * refresh rotation, and every refusal the specification asks for (wrong resource, PKCE, redirect URI, code
 * replay, refresh token reuse, private metadata URLs, expired and revoked tokens).
 */
import { waitUntil } from '../helpers/until.js';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { uploadSkill } from '../mcp/fixtures.js';
import {
  authorize,
  Jar,
  exchangeCode,
  mcpInitialize,
  pkcePair,
  REDIRECT_URI,
  registerClient,
  tokenRequest,
} from './flow.js';

let server: TestServer;
let base: string;
let anon: Api;
let alice: Awaited<ReturnType<typeof registerUser>>;

const mcpInit = (token: string) => mcpInitialize(`${base}/mcp`, token);

/** A full code flow for `clientId`; returns the token response. */
async function tokensFor(clientId: string, extra: Partial<Parameters<typeof authorize>[2]> = {}) {
  const { verifier, challenge } = pkcePair();
  const { location } = await authorize(base, alice.api, { clientId, challenge, ...extra });
  const code = location!.searchParams.get('code')!;
  expect(code).toBeTruthy();
  const res = await tokenRequest(base, {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
    client_id: clientId,
    resource: `${base}/mcp`,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

beforeAll(async () => {
  server = await startTestServer({ COMMANDS_ENABLED: 'false' });
  base = server.baseUrl;
  anon = new Api(base);
  alice = await registerUser(anon, 'oauthalice');
  await uploadSkill(alice.api, 'alpha', 'First skill');
  await uploadSkill(alice.api, 'beta', 'Second skill');
}, 60_000);
afterAll(() => server?.close());

describe('discovery', () => {
  it('answers a bare 401 from /mcp with the resource metadata URL', async () => {
    const res = await fetch(`${base}/mcp`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="skillport", resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it('answers the legacy /sse endpoint the same way, and refuses an OAuth-looking token there', async () => {
    const bare = await fetch(`${base}/sse`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toContain(
      `resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
    );
    const made = await fetch(`${base}/sse`, { headers: { authorization: `Bearer ${'x'.repeat(43)}` } });
    expect(made.status).toBe(401);
    expect(made.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('serves Protected Resource Metadata at both the bare and the /mcp-suffixed path', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        resource: `${base}/mcp`,
        authorization_servers: [base],
        scopes_supported: ['mcp'],
      });
    }
  });

  it('serves authorization server metadata (RFC 8414 and OpenID discovery) with PKCE S256 and CIMD', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      const meta = await res.json();
      expect(meta).toMatchObject({
        issuer: base,
        authorization_endpoint: `${base}/oauth/authorize`,
        token_endpoint: `${base}/oauth/token`,
        registration_endpoint: `${base}/oauth/register`,
        code_challenge_methods_supported: ['S256'],
        response_types_supported: ['code'],
        client_id_metadata_document_supported: true,
      });
      expect(meta.grant_types_supported).toEqual(
        expect.arrayContaining(['authorization_code', 'refresh_token']),
      );
      expect(meta.grant_types_supported).not.toContain('implicit');
    }
  });

  it('answers unknown /.well-known and /api paths with a JSON 404, never the console', async () => {
    for (const path of ['/.well-known/nothing-here', '/api/v2/skills', '/api/whatever']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(await res.json()).toMatchObject({ success: false, error: { code: 'not_found' } });
    }
  });

  it('challenges an API key without MCP permission with insufficient_scope and the metadata URL', async () => {
    const apiOnly = await createApiToken(alice.api, ['api'], 'rest-only');
    const res = await mcpInit(apiOnly);
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="skillport", error="insufficient_scope", scope="mcp", resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
    );
  });
});

describe('the code flow', () => {
  let clientId: string;
  beforeAll(async () => {
    clientId = await registerClient(base);
  });

  it('issues a token that works at /mcp and resolves to the user with the chosen skills only', async () => {
    const tokens = await tokensFor(clientId, { restriction: { skills: ['alpha'] } });
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope).toContain('mcp');
    const res = await mcpInit(tokens.access_token);
    expect(res.status).toBe(200);
    // An OAuth token is for MCP only: the REST API refuses it.
    const rest = await anon.withToken(tokens.access_token).get('/api/v1/skills');
    expect(rest.status).toBe(401);
    const list = await alice.api.get('/api/v1/oauth/connections');
    expect(list.body.data).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ client_id: clientId, restriction: { skills: ['alpha'] } }),
      ]),
    );
  });

  it('signs ID tokens (openid) with the key derived from SECRET_KEY, published at the JWKS endpoint', async () => {
    const tokens = await tokensFor(clientId, { scope: 'openid mcp' });
    const jwks = createRemoteJWKSet(new URL(`${base}/oauth/jwks`));
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, {
      issuer: base,
      audience: clientId,
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe(alice.user.id);
  });

  it('hands an approval over only in the browser that started the request, once', async () => {
    const { challenge } = pkcePair();
    const jar = new Jar();
    const start = await fetch(
      `${base}/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: REDIRECT_URI,
        scope: 'mcp',
        resource: `${base}/mcp`,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })}`,
      { redirect: 'manual' },
    );
    jar.take(start);
    const uid = /\/oauth\/interaction\/([\w-]+)/.exec(start.headers.get('location')!)![1]!;
    const decided = await alice.api.post(`/api/v1/oauth/authorizations/${uid}`, { approve: true });
    expect(decided.status).toBe(200);
    const finishUrl = new URL(decided.body.redirect_to);
    // Someone else's browser (no interaction cookie) cannot redeem the approval.
    const elsewhere = await fetch(finishUrl, { redirect: 'manual' });
    expect(elsewhere.status).toBe(400);
    expect((await elsewhere.json()).error.message).toMatch(/browser that started it/);
    // Nor can a guessed ticket in the right browser.
    const guessed = new URL(finishUrl);
    guessed.searchParams.set('ticket', '0'.repeat(64));
    expect((await fetch(guessed, { redirect: 'manual', headers: { cookie: jar.header() } })).status).toBe(
      400,
    );
    const done = await fetch(finishUrl, { redirect: 'manual', headers: { cookie: jar.header() } });
    expect(done.status).toBe(303);
    const again = await fetch(finishUrl, { redirect: 'manual', headers: { cookie: jar.header() } });
    expect(again.status).toBe(400);
  });

  it('refuses an authorization request for another resource (invalid_target)', async () => {
    const { challenge } = pkcePair();
    const { location } = await authorize(base, alice.api, {
      clientId,
      challenge,
      resource: 'https://elsewhere.example/mcp',
    });
    expect(location?.searchParams.get('error')).toBe('invalid_target');

    // And at the token endpoint: a code granted for /mcp is not exchanged for another resource.
    const pair = pkcePair();
    const granted = await authorize(base, alice.api, { clientId, challenge: pair.challenge });
    const res = await tokenRequest(base, {
      grant_type: 'authorization_code',
      code: granted.location!.searchParams.get('code')!,
      code_verifier: pair.verifier,
      redirect_uri: REDIRECT_URI,
      client_id: clientId,
      resource: 'https://elsewhere.example/mcp',
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_target');
  });

  it('sends the client access_denied when the user declines, and connects nothing', async () => {
    const before = (await alice.api.get('/api/v1/oauth/connections')).body.data.length;
    const { challenge } = pkcePair();
    const { location } = await authorize(base, alice.api, { clientId, challenge, approve: false });
    expect(location?.searchParams.get('error')).toBe('access_denied');
    expect(location?.searchParams.get('code')).toBeNull();
    expect((await alice.api.get('/api/v1/oauth/connections')).body.data.length).toBe(before);
  });

  it('refuses a request without PKCE, and a token request with a wrong verifier', async () => {
    const { location } = await authorize(base, alice.api, { clientId });
    expect(location?.searchParams.get('error')).toBe('invalid_request');
    expect(location?.searchParams.get('error_description')).toMatch(/PKCE/);

    const { challenge } = pkcePair();
    const { location: ok } = await authorize(base, alice.api, { clientId, challenge });
    const res = await tokenRequest(base, {
      grant_type: 'authorization_code',
      code: ok!.searchParams.get('code')!,
      code_verifier: pkcePair().verifier,
      redirect_uri: REDIRECT_URI,
      client_id: clientId,
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('refuses a redirect URI that was not registered (loopback: any port, nothing else)', async () => {
    const { challenge } = pkcePair();
    const other = await authorize(base, alice.api, {
      clientId,
      challenge,
      redirectUri: 'http://127.0.0.1:53682/elsewhere',
    });
    expect(other.location).toBeNull();
    expect(other.stopped!.status).toBe(400);
    expect(await other.stopped!.text()).toContain('redirect_uri did not match');
    // RFC 8252: a native client's loopback redirect may use any port.
    const anyPort = await authorize(base, alice.api, {
      clientId,
      challenge,
      redirectUri: 'http://127.0.0.1:61000/callback',
    });
    expect(anyPort.location?.searchParams.get('code')).toBeTruthy();
  });

  it('refuses a replayed authorization code and revokes what the first use issued', async () => {
    const { verifier, challenge } = pkcePair();
    const { location } = await authorize(base, alice.api, { clientId, challenge });
    const form = {
      grant_type: 'authorization_code',
      code: location!.searchParams.get('code')!,
      code_verifier: verifier,
      redirect_uri: REDIRECT_URI,
      client_id: clientId,
    };
    const first = await tokenRequest(base, form);
    expect(first.status).toBe(200);
    const replay = await tokenRequest(base, form);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect((await mcpInit(first.body.access_token)).status).toBe(401);
  });

  it('rotates refresh tokens; reusing a rotated one revokes the whole family', async () => {
    const tokens = await tokensFor(clientId);
    const refreshed = await tokenRequest(base, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: clientId,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(tokens.refresh_token);
    expect((await mcpInit(refreshed.body.access_token)).status).toBe(200);

    const reuse = await tokenRequest(base, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: clientId,
    });
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    // The family is gone: the newest refresh token and access token too.
    const next = await tokenRequest(base, {
      grant_type: 'refresh_token',
      refresh_token: refreshed.body.refresh_token,
      client_id: clientId,
    });
    expect(next.body.error).toBe('invalid_grant');
    expect((await mcpInit(refreshed.body.access_token)).status).toBe(401);
    // The reuse is in the security log, and the connection is gone.
    await waitUntil(async () => {
      const audit = await alice.api.get('/api/v1/audit?limit=100');
      return audit.body.items.some(
        (e: any) => e.action === 'oauth.revoke' && e.details?.reason === 'token_reuse',
      );
    });
  });

  it('refuses the token of a revoked connection at once', async () => {
    const carol = await registerUser(anon, 'oauthcarol');
    const { verifier, challenge } = pkcePair();
    const { location } = await authorize(base, carol.api, { clientId, challenge });
    const tokens = await exchangeCode(base, location, verifier, clientId);
    expect((await mcpInit(tokens.body.access_token)).status).toBe(200);
    const [connection, ...others] = (await carol.api.get('/api/v1/oauth/connections')).body.data;
    expect(others).toEqual([]);
    expect(connection).toMatchObject({ client_id: clientId, client_name: 'Flow test client' });
    // Another user cannot see or revoke it: it answers like a missing one.
    expect((await alice.api.delete(`/api/v1/oauth/connections/${connection.id}`)).status).toBe(404);
    expect((await carol.api.delete(`/api/v1/oauth/connections/${connection.id}`)).status).toBe(204);
    const res = await mcpInit(tokens.body.access_token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const refresh = await tokenRequest(base, {
      grant_type: 'refresh_token',
      refresh_token: tokens.body.refresh_token,
      client_id: clientId,
    });
    expect(refresh.body.error).toBe('invalid_grant');
    expect((await carol.api.get('/api/v1/oauth/connections')).body.data).toEqual([]);
  });

  it('refuses the token of a user an admin disabled', async () => {
    const bob = await registerUser(anon, 'oauthbob');
    const { verifier, challenge } = pkcePair();
    const { location } = await authorize(base, bob.api, { clientId, challenge });
    const tokens = await exchangeCode(base, location, verifier, clientId);
    expect((await mcpInit(tokens.body.access_token)).status).toBe(200);
    // alice registered first, so she is the admin.
    expect((await alice.api.patch(`/api/v1/users/${bob.user.id}`, { disabled: true })).status).toBe(200);
    expect((await mcpInit(tokens.body.access_token)).status).toBe(401);
  });

  it('refuses a token presented at another origin than the one it was issued for (audience)', async () => {
    const tokens = await tokensFor(clientId);
    const port = new URL(base).port;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/mcp',
          method: 'POST',
          headers: {
            host: `localhost:${port}`,
            authorization: `Bearer ${tokens.access_token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(401);
    expect((await mcpInit(tokens.access_token)).status).toBe(200);
  });

  it('refuses an expired token', async () => {
    const tokens = await tokensFor(clientId);
    await server.server.ctx.db.db.execute(
      `update oauth_records set expires_at = now() - interval '1 second' where model = 'AccessToken'` as never,
    );
    server.server.ctx.apiTokens.invalidateUser(alice.user.id);
    expect((await mcpInit(tokens.access_token)).status).toBe(401);
  });
});

describe('client registration rules', () => {
  let listener: Server;
  let received = 0;
  beforeAll(async () => {
    listener = createServer((socket) => socket.on('data', (d) => (received += d.length)));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => listener.close(() => resolve())));

  it('refuses a client metadata document URL at a private address without sending it a byte', async () => {
    const port = (listener.address() as { port: number }).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const { challenge } = pkcePair();
      const res = await fetch(
        `${base}/oauth/authorize?${new URLSearchParams({
          response_type: 'code',
          client_id: `https://${host}/client.json`,
          redirect_uri: REDIRECT_URI,
          code_challenge: challenge,
          code_challenge_method: 'S256',
          scope: 'mcp',
        })}`,
        { redirect: 'manual' },
      );
      expect(res.status, host).toBe(400);
      expect(await res.text()).toContain('invalid_client');
    }
    expect(received).toBe(0);
  });

  it('lets an admin turn dynamic registration off', async () => {
    const off = await alice.api.patch('/api/v1/admin/settings', { oauth_dynamic_registration: false });
    expect(off.status).toBe(200);
    await expect(registerClient(base)).rejects.toThrow(/403/);
    await alice.api.patch('/api/v1/admin/settings', { oauth_dynamic_registration: true });
    expect(await registerClient(base)).toBeTruthy();
  });

  it('lets an admin limit clients to a list', async () => {
    const clientId = await registerClient(base);
    const limited = await alice.api.patch('/api/v1/admin/settings', {
      oauth_allowed_clients: ['someone-else'],
    });
    expect(limited.status).toBe(200);
    try {
      const { challenge } = pkcePair();
      const { stopped } = await authorize(base, alice.api, { clientId, challenge });
      expect(stopped?.status).toBe(403);
      await alice.api.patch('/api/v1/admin/settings', { oauth_allowed_clients: [clientId] });
      const { location } = await authorize(base, alice.api, { clientId, challenge });
      expect(location?.searchParams.get('code')).toBeTruthy();
    } finally {
      await alice.api.patch('/api/v1/admin/settings', { oauth_allowed_clients: [] });
    }
  });

  // Last: it uses up this address's registrations.
  it('limits dynamic registrations per address (30 an hour)', async () => {
    let refused: Response | undefined;
    for (let i = 0; i < 31 && !refused; i++) {
      const res = await fetch(`${base}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' }),
      });
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(201);
    }
    expect(refused).toBeDefined();
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused!.json()).toMatchObject({ error: 'slow_down' });
  });
});
