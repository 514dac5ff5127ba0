import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { tables } from '../../src/db/index.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * A console session is one login: its refresh-token family, whose id every access token carries. Ending it must
 * refuse its access tokens at once, not when they expire.
 */
let t: TestServer;
let api: Api;

beforeAll(async () => {
  t = await startTestServer();
  api = new Api(t.baseUrl);
  await registerUser(api, 'sessionsadmin');
});
afterAll(() => t.close());

async function login(name: string, password: string) {
  const res = await api.post('/api/v1/auth/login', { login: name, password });
  expect(res.status).toBe(200);
  return { api: api.withToken(res.body.access_token), refreshToken: res.body.refresh_token as string };
}
const status = async (session: Api) => (await session.get('/api/v1/users/me')).status;

describe('logout', () => {
  it("ends exactly that session: its access token is refused at once, the user's other sessions go on", async () => {
    const u = await registerUser(api, 'logoutnow');
    const laptop = await login('logoutnow', u.password);
    expect(await status(u.api)).toBe(200);
    expect(await status(laptop.api)).toBe(200);
    expect((await api.post('/api/v1/auth/logout', { refresh_token: u.refreshToken })).status).toBe(204);
    expect(await status(u.api)).toBe(401);
    expect(await status(laptop.api)).toBe(200);
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: laptop.refreshToken })).status).toBe(200);
  });

  it('also ends the access tokens issued by refreshing within the session', async () => {
    const u = await registerUser(api, 'logoutrotated');
    const rotated = await api.post('/api/v1/auth/refresh', { refresh_token: u.refreshToken });
    const current = api.withToken(rotated.body.access_token);
    expect(await status(current)).toBe(200);
    expect(await status(u.api)).toBe(200); // the first access token of the session is still within its 15 minutes
    await api.post('/api/v1/auth/logout', { refresh_token: rotated.body.refresh_token });
    expect(await status(current)).toBe(401);
    expect(await status(u.api)).toBe(401);
  });
});

describe('password change', () => {
  it('ends every console session at once, keeps API tokens, and the new password starts a new session', async () => {
    const u = await registerUser(api, 'pwsessions');
    const phone = await login('pwsessions', u.password);
    const token = api.withToken(await createApiToken(u.api, ['api']));
    const changed = await u.api.post('/api/v1/users/me/password', {
      current_password: u.password,
      new_password: 'a-fresh-long-password',
    });
    expect(changed.status).toBe(204);
    expect(await status(u.api)).toBe(401);
    expect(await status(phone.api)).toBe(401);
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: phone.refreshToken })).status).toBe(401);
    // API tokens are separate credentials: listed on the account page and revoked there.
    expect(await status(token)).toBe(200);
    const fresh = await login('pwsessions', 'a-fresh-long-password');
    expect(await status(fresh.api)).toBe(200);
  });
});

describe('endSessions', () => {
  it('ends all of a user’s sessions, audited, and leaves other users alone', async () => {
    const u = await registerUser(api, 'endall');
    const other = await registerUser(api, 'endallother');
    const second = await login('endall', u.password);
    await t.server.ctx.accounts.endSessions(u.user.id, { actorId: null, ip: null, reason: 'test' });
    expect(await status(u.api)).toBe(401);
    expect(await status(second.api)).toBe(401);
    expect(await status(other.api)).toBe(200);
    const events = await t.server.ctx.db.db
      .select()
      .from(tables.auditEvents)
      .where(
        and(
          eq(tables.auditEvents.target, `user:${u.user.id}`),
          eq(tables.auditEvents.action, 'auth.sessions_end'),
        ),
      );
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toEqual({ reason: 'test' });
    await expect(
      t.server.ctx.accounts.endSessions(randomUUID(), { actorId: null, ip: null, reason: 'test' }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('tells listeners (SSE streams, other instances) through credentials-changed', async () => {
    const u = await registerUser(api, 'endnotify');
    const heard: unknown[] = [];
    const listener = (p: { userId: string }) => heard.push(p.userId);
    t.server.ctx.apiTokens.events.on('credentials-changed', listener);
    try {
      await api.post('/api/v1/auth/logout', { refresh_token: u.refreshToken });
      await t.server.ctx.accounts.endSessions(u.user.id, { actorId: null, ip: null, reason: 'test' });
    } finally {
      t.server.ctx.apiTokens.events.off('credentials-changed', listener);
    }
    expect(heard).toEqual([u.user.id, u.user.id]);
  });
});

describe('access tokens', () => {
  const forge = (claims: Record<string, unknown>, sub: string) =>
    new SignJWT({ type: 'access', ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(t.secretKey));

  it('are only valid with the id of a live session of their own user', async () => {
    const u = await registerUser(api, 'sidowner');
    const other = await registerUser(api, 'sidother');
    const familyOf = async (userId: string) =>
      (
        await t.server.ctx.db.db
          .select({ familyId: tables.refreshTokens.familyId })
          .from(tables.refreshTokens)
          .where(eq(tables.refreshTokens.userId, userId))
      )[0]!.familyId;
    const own = await familyOf(u.user.id);
    // The control: a correctly signed token with the user's own live session works.
    expect(await status(api.withToken(await forge({ sid: own }, u.user.id)))).toBe(200);
    // No session id (as signed before sessions had ids), a malformed one, an unknown one, another user's.
    for (const claims of [
      {},
      { sid: 'not-a-uuid' },
      { sid: randomUUID() },
      { sid: await familyOf(other.user.id) },
    ]) {
      expect(await status(api.withToken(await forge(claims, u.user.id)))).toBe(401);
    }
  });

  it('die with their session when the refresh token has expired', async () => {
    const u = await registerUser(api, 'sidexpired');
    await t.server.ctx.db.db
      .update(tables.refreshTokens)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(tables.refreshTokens.userId, u.user.id));
    expect(await status(u.api)).toBe(401);
  });
});
