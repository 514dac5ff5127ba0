import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import bcrypt from 'bcryptjs';
import { tables } from '../../src/db/index.js';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let api: Api;

beforeAll(async () => {
  t = await startTestServer();
  api = new Api(t.baseUrl);
});
afterAll(() => t.close());

const expectEnvelope = (body: any, code: string) => {
  expect(body.success).toBe(false);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(Number.isNaN(Date.parse(body.timestamp))).toBe(false);
};

describe('register', () => {
  it('makes the first user admin, later users not, and returns tokens', async () => {
    const first = await registerUser(api, 'firstuser');
    expect(first.user.is_admin).toBe(true);
    const second = await registerUser(api, 'seconduser');
    expect(second.user.is_admin).toBe(false);
    expect(second.user).not.toHaveProperty('password_hash');
  });

  it('lists every invalid field', async () => {
    const res = await api.post('/api/v1/auth/register', { email: 'nope', username: '-x', password: 1 });
    expect(res.status).toBe(400);
    expectEnvelope(res.body, 'validation_error');
    const paths = res.body.error.details.fields.map((f: any) => f.path).sort();
    expect(paths).toEqual(['email', 'password', 'username']);
  });

  it('refuses short and common passwords', async () => {
    const short = await api.post('/api/v1/auth/register', {
      email: 'short@example.com',
      username: 'shortpw',
      password: 'abc123',
    });
    expect(short.status).toBe(400);
    expect(short.body.error.details.fields[0]).toMatchObject({ path: 'password' });
    const common = await api.post('/api/v1/auth/register', {
      email: 'common@example.com',
      username: 'commonpw',
      password: 'Password123',
    });
    expect(common.status).toBe(400);
    expect(common.body.error.message).toMatch(/too common/);
    const long = await api.post('/api/v1/auth/register', {
      email: 'long@example.com',
      username: 'longpw',
      password: 'x'.repeat(257),
    });
    expect(long.status).toBe(400);
  });

  it('treats emails case-insensitively', async () => {
    await api.post('/api/v1/auth/register', {
      email: 'Case@Example.COM',
      username: 'caseuser',
      password: 'a-long-enough-password',
    });
    const dup = await api.post('/api/v1/auth/register', {
      email: 'case@example.com',
      username: 'caseuser2',
      password: 'a-long-enough-password',
    });
    expect(dup.status).toBe(409);
    expectEnvelope(dup.body, 'conflict');
    expect(dup.body.error.details.fields[0].path).toBe('email');
    const login = await api.post('/api/v1/auth/login', {
      login: 'CASE@example.com',
      password: 'a-long-enough-password',
    });
    expect(login.status).toBe(200);
    expect(login.body.user.email).toBe('case@example.com');
  });
});

describe('login', () => {
  it('accepts email or username and rejects a wrong password like an unknown account', async () => {
    const u = await registerUser(api, 'loginuser');
    const byName = await api.post('/api/v1/auth/login', { login: 'loginuser', password: u.password });
    expect(byName.status).toBe(200);
    const byEmail = await api.post('/api/v1/auth/login', { login: u.email, password: u.password });
    expect(byEmail.status).toBe(200);
    const wrong = await api.post('/api/v1/auth/login', {
      login: 'loginuser',
      password: 'wrong-password-123',
    });
    const unknown = await api.post('/api/v1/auth/login', {
      login: 'nobody-here',
      password: 'wrong-password-123',
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.error).toEqual(unknown.body.error);
  });

  it('verifies a legacy bcrypt hash and re-hashes it with argon2id', async () => {
    const u = await registerUser(api, 'legacyuser');
    const db = t.server.ctx.db.db;
    await db
      .update(tables.users)
      .set({ passwordHash: bcrypt.hashSync(u.password, 12) })
      .where(eq(tables.users.id, u.user.id));
    const res = await api.post('/api/v1/auth/login', { login: 'legacyuser', password: u.password });
    expect(res.status).toBe(200);
    const [row] = await db.select().from(tables.users).where(eq(tables.users.id, u.user.id));
    expect(row!.passwordHash.startsWith('$argon2id$')).toBe(true);
    const again = await api.post('/api/v1/auth/login', { login: 'legacyuser', password: u.password });
    expect(again.status).toBe(200);
    const bad = await api.post('/api/v1/auth/login', { login: 'legacyuser', password: 'not-the-password' });
    expect(bad.status).toBe(401);
  });
});

describe('refresh tokens', () => {
  it('rotate on every use and revoke the whole family on reuse', async () => {
    const u = await registerUser(api, 'refreshuser');
    const r1 = await api.post('/api/v1/auth/refresh', { refresh_token: u.refreshToken });
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(u.refreshToken);
    const r2 = await api.post('/api/v1/auth/refresh', { refresh_token: r1.body.refresh_token });
    expect(r2.status).toBe(200);
    // The first token is presented again: theft is assumed and the newest token dies too.
    const reuse = await api.post('/api/v1/auth/refresh', { refresh_token: u.refreshToken });
    expect(reuse.status).toBe(401);
    expectEnvelope(reuse.body, 'invalid_refresh_token');
    const afterReuse = await api.post('/api/v1/auth/refresh', { refresh_token: r2.body.refresh_token });
    expect(afterReuse.status).toBe(401);
    // The session is over: its access tokens are refused too.
    expect((await api.withToken(r2.body.access_token).get('/api/v1/users/me')).status).toBe(401);
    expect((await u.api.get('/api/v1/users/me')).status).toBe(401);
    const login = await api.post('/api/v1/auth/login', { login: 'refreshuser', password: u.password });
    const audit = await api.withToken(login.body.access_token).get('/api/v1/audit?limit=100');
    expect(audit.body.items.map((e: any) => e.action)).toContain('auth.refresh_reuse');
  });

  it('logout revokes the session', async () => {
    const u = await registerUser(api, 'logoutuser');
    expect((await api.post('/api/v1/auth/logout', { refresh_token: u.refreshToken })).status).toBe(204);
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);
  });

  it('refuses garbage', async () => {
    const res = await api.post('/api/v1/auth/refresh', { refresh_token: 'rt_nope' });
    expect(res.status).toBe(401);
  });
});

describe('me', () => {
  it('reads and updates the profile; requires a valid bearer token', async () => {
    const u = await registerUser(api, 'meuser');
    const me = await u.api.get('/api/v1/users/me');
    expect(me.status).toBe(200);
    expect(me.body.username).toBe('meuser');
    const patched = await u.api.patch('/api/v1/users/me', { username: 'MeUser2' });
    expect(patched.status).toBe(200);
    expect(patched.body.username).toBe('meuser2');
    const taken = await u.api.patch('/api/v1/users/me', { username: 'firstuser' });
    expect(taken.status).toBe(409);
    const anon = await api.get('/api/v1/users/me');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expectEnvelope(anon.body, 'unauthorized');
    const forged = await api.withToken('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.').get('/api/v1/users/me');
    expect(forged.status).toBe(401);
  });

  it('changes the password: old password and sessions stop working', async () => {
    const u = await registerUser(api, 'pwchange');
    const wrong = await u.api.post('/api/v1/users/me/password', {
      current_password: 'not-it-at-all',
      new_password: 'another-long-password',
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details.fields[0].path).toBe('current_password');
    const ok = await u.api.post('/api/v1/users/me/password', {
      current_password: u.password,
      new_password: 'another-long-password',
    });
    expect(ok.status).toBe(204);
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);
    expect((await api.post('/api/v1/auth/login', { login: 'pwchange', password: u.password })).status).toBe(
      401,
    );
    expect(
      (await api.post('/api/v1/auth/login', { login: 'pwchange', password: 'another-long-password' })).status,
    ).toBe(200);
  });
});

describe('delete account', () => {
  it('needs the password, removes everything, and frees the email', async () => {
    const u = await registerUser(api, 'deleteme');
    const token = await u.api.post('/api/v1/tokens', { name: 'cli', scopes: ['api'] });
    expect(token.status).toBe(201);
    const wrong = await u.api.delete('/api/v1/users/me', { password: 'wrong-password-here' });
    expect(wrong.status).toBe(400);
    const ok = await u.api.delete('/api/v1/users/me', { password: u.password });
    expect(ok.status).toBe(204);
    const db = t.server.ctx.db.db;
    expect(await db.select().from(tables.users).where(eq(tables.users.id, u.user.id))).toHaveLength(0);
    expect(
      await db.select().from(tables.apiTokens).where(eq(tables.apiTokens.userId, u.user.id)),
    ).toHaveLength(0);
    expect(
      await db.select().from(tables.refreshTokens).where(eq(tables.refreshTokens.userId, u.user.id)),
    ).toHaveLength(0);
    expect((await api.withToken(token.body.token).get('/api/v1/users/me')).status).toBe(401);
    expect((await u.api.get('/api/v1/users/me')).status).toBe(401);
    const again = await api.post('/api/v1/auth/register', {
      email: u.email,
      username: 'deleteme',
      password: 'a-brand-new-password',
    });
    expect(again.status).toBe(201);
    expect(again.body.user.id).not.toBe(u.user.id);
  });
});
