import { waitUntil } from '../helpers/until.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { connectMcp } from '../helpers/mcp.js';
import { startTwoInstances, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

/**
 * Two instances of one deployment: one database, one Redis (127.0.0.1:6379), a Redis key prefix of this run's
 * own. What one instance changes, the other must honour at once.
 */
let a: TestServer;
let b: TestServer;

let deployment: Awaited<ReturnType<typeof startTwoInstances>>;

beforeAll(async () => {
  deployment = await startTwoInstances({
    AUTH_RATE_LIMIT_PER_ACCOUNT: '3',
    TRUST_PROXY: 'true', // X-Forwarded-For gives test clients addresses of their own
    COMMANDS_ENABLED: 'false',
  });
  ({ a, b } = deployment);
});
afterAll(() => deployment?.close());

describe('several instances with Redis', () => {
  it('a token revoked on one instance is refused by the other at once', async () => {
    const admin = await registerUser(new Api(a.baseUrl), 'multiadmin');
    const user = await registerUser(new Api(a.baseUrl), 'multiuser');
    const token = await createApiToken(user.api, ['api']);
    const onB = new Api(b.baseUrl, token);
    expect((await onB.get('/api/v1/users/me')).status).toBe(200); // B has now cached the token
    const list = await user.api.get('/api/v1/tokens');
    expect((await user.api.delete(`/api/v1/tokens/${list.body.items[0].id}`)).status).toBe(204);
    await waitUntil(async () => (await onB.get('/api/v1/users/me')).status === 401);

    const token2 = await createApiToken(user.api, ['api']);
    const onB2 = new Api(b.baseUrl, token2);
    expect((await onB2.get('/api/v1/users/me')).status).toBe(200);
    expect((await admin.api.patch(`/api/v1/users/${user.user.id}`, { disabled: true })).status).toBe(200);
    await waitUntil(async () => (await onB2.get('/api/v1/users/me')).status === 401);
  });

  it('a key disabled on one instance is refused by the other at once, and works again once enabled', async () => {
    const user = await registerUser(new Api(a.baseUrl), 'multikeys');
    const created = await user.api.post('/api/v1/api-keys', { name: 'ci', can_manage: true });
    expect(created.status).toBe(201);
    const onB = new Api(b.baseUrl, created.body.token);
    expect((await onB.get('/api/v1/users/me')).status).toBe(200); // B has now cached the key
    const put = (body: object) => user.api.request('PUT', `/api/v1/api-keys/${created.body.id}`, body);
    expect((await put({ is_disabled: true })).status).toBe(200);
    await waitUntil(async () => (await onB.get('/api/v1/users/me')).status === 401);
    expect((await put({ is_disabled: false })).status).toBe(200);
    await waitUntil(async () => (await onB.get('/api/v1/users/me')).status === 200);
  });

  it('shares login rate limits between instances', async () => {
    await registerUser(new Api(a.baseUrl), 'limited');
    const attempt = (s: TestServer) =>
      new Api(s.baseUrl).post('/api/v1/auth/login', { login: 'limited', password: 'wrong-password-1' });
    expect((await attempt(a)).status).toBe(401);
    expect((await attempt(b)).status).toBe(401);
    expect((await attempt(a)).status).toBe(401);
    const fourth = await attempt(b);
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it("an attacker failing through both instances is limited on both; the owner's other address is not", async () => {
    const owner = await registerUser(new Api(a.baseUrl), 'sharedowner');
    const attempt = (s: TestServer, ip: string, password: string) =>
      new Api(s.baseUrl).post(
        '/api/v1/auth/login',
        { login: 'sharedowner', password },
        { 'x-forwarded-for': ip },
      );
    expect((await attempt(a, '203.0.113.5', 'wrong-password-1')).status).toBe(401);
    expect((await attempt(b, '203.0.113.5', 'wrong-password-2')).status).toBe(401);
    expect((await attempt(a, '203.0.113.5', 'wrong-password-3')).status).toBe(401);
    expect((await attempt(b, '203.0.113.5', owner.password)).status).toBe(429);
    expect((await attempt(b, '198.51.100.5', owner.password)).status).toBe(200);
    expect((await attempt(a, '198.51.100.5', owner.password)).status).toBe(200);
  });

  it('a session ended on one instance is refused by the other at once', async () => {
    const user = await registerUser(new Api(a.baseUrl), 'multisession');
    const onB = new Api(b.baseUrl, user.api.token);
    expect((await onB.get('/api/v1/users/me')).status).toBe(200);
    expect(
      (await new Api(a.baseUrl).post('/api/v1/auth/logout', { refresh_token: user.refreshToken })).status,
    ).toBe(204);
    expect((await onB.get('/api/v1/users/me')).status).toBe(401);

    const again = await new Api(b.baseUrl).post('/api/v1/auth/login', {
      login: 'multisession',
      password: user.password,
    });
    const onA = new Api(a.baseUrl, again.body.access_token);
    expect((await onA.get('/api/v1/users/me')).status).toBe(200);
    const changed = await new Api(b.baseUrl, again.body.access_token).post('/api/v1/users/me/password', {
      current_password: user.password,
      new_password: 'another-long-password',
    });
    expect(changed.status).toBe(204);
    expect((await onA.get('/api/v1/users/me')).status).toBe(401);
  });

  it("a console session's cached principal follows a disable, a promotion and a deletion made elsewhere at once", async () => {
    const admin = await new Api(a.baseUrl).post('/api/v1/auth/login', {
      login: 'multiadmin',
      password: 'pw-multiadmin-long-enough',
    });
    const adminOnA = new Api(a.baseUrl, admin.body.access_token);
    const target = await registerUser(new Api(a.baseUrl), 'cachedsession');
    const onB = new Api(b.baseUrl, target.api.token);
    // Twice: the second answer comes from B's cache of the session's principal.
    expect((await onB.get('/api/v1/users/me')).status).toBe(200);
    expect((await onB.get('/api/v1/admin/settings')).status).toBe(403);
    expect((await adminOnA.patch(`/api/v1/users/${target.user.id}`, { is_admin: true })).status).toBe(200);
    expect((await onB.get('/api/v1/admin/settings')).status).toBe(200);
    expect((await adminOnA.patch(`/api/v1/users/${target.user.id}`, { disabled: true })).status).toBe(200);
    expect((await onB.get('/api/v1/users/me')).status).toBe(401);

    const other = await registerUser(new Api(b.baseUrl), 'deletedsession');
    const otherOnA = new Api(a.baseUrl, other.api.token);
    expect((await otherOnA.get('/api/v1/users/me')).status).toBe(200);
    const deleted = await other.api.request('DELETE', '/api/v1/users/me', { password: other.password });
    expect(deleted.status).toBe(204);
    expect((await otherOnA.get('/api/v1/users/me')).status).toBe(401);
  });

  it('an admin setting changed on one instance holds on the other at once', async () => {
    const admin = await new Api(a.baseUrl).post('/api/v1/auth/login', {
      login: 'multiadmin',
      password: 'pw-multiadmin-long-enough',
    });
    const onA = new Api(a.baseUrl, admin.body.access_token);
    const onB = new Api(b.baseUrl, admin.body.access_token);
    expect(admin.status).toBe(200);
    expect((await onB.get('/api/v1/admin/settings')).body).toMatchObject({ commands_enabled: true }); // B caches it
    expect((await onA.patch('/api/v1/admin/settings', { commands_enabled: false })).status).toBe(200);
    await waitUntil(async () => (await onB.get('/api/v1/admin/settings')).body.commands_enabled === false);
  });

  it('tells an SSE client on one instance about a skill uploaded through the other', async () => {
    const user = await registerUser(new Api(a.baseUrl), 'ssemulti');
    const client = await connectMcp(b.baseUrl, await createApiToken(user.api), 'sse');
    const changed = new Promise<void>((resolve) => {
      client.setNotificationHandler('notifications/resources/list_changed' as never, () => resolve());
    });
    expect((await user.api.post('/api/v1/skills', await skillZip('cross-instance'))).status).toBe(201);
    await changed;
    await client.close();
  });
});
