import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { tables } from '../../src/db/index.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

let t: TestServer;
let api: Api;
let admin: Awaited<ReturnType<typeof registerUser>>;
const db = () => t.server.ctx.db.db;

beforeAll(async () => {
  t = await startTestServer({ AUTH_RATE_LIMIT_PER_IP: '1000' });
  api = new Api(t.baseUrl);
  admin = await registerUser(api, 'rootadmin');
  expect(admin.user.is_admin).toBe(true);
});
afterAll(() => t.close());

async function allPages(session: Api, path: string, limit: number): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const res: any = await session.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    if (!cursor) return items;
  }
  throw new Error('pagination did not end');
}

describe('listing users', () => {
  it('pages through every user in creation order without repeats or gaps', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await registerUser(api, `listed${i}`));
    // Same millisecond, different microseconds: the cursor must keep PostgreSQL's precision.
    await db()
      .update(tables.users)
      .set({
        createdAt: sql`'2031-01-01T00:00:00.456Z'::timestamptz + (substring(${tables.users.username} from 7)::int + 1) * interval '1 microsecond'`,
      })
      .where(
        inArray(
          tables.users.id,
          made.map((m) => m.user.id),
        ),
      );
    const expected = (
      await db()
        .select({ id: tables.users.id })
        .from(tables.users)
        .orderBy(asc(tables.users.createdAt), asc(tables.users.id))
    ).map((r) => r.id);
    const listed = await allPages(admin.api, '/api/v1/users', 2);
    expect(listed.map((u) => u.id)).toEqual(expected);
    expect(listed.slice(-5).map((u) => u.username)).toEqual([
      'listed0',
      'listed1',
      'listed2',
      'listed3',
      'listed4',
    ]);
    for (const u of listed) expect(u).not.toHaveProperty('password_hash');
  });

  it('filters with q on email or username, case-insensitively, with % and _ taken literally', async () => {
    await registerUser(api, 'zed_under');
    await registerUser(api, 'zedxunder');
    const byName = await admin.api.get('/api/v1/users?q=ZED_');
    expect(byName.body.items.map((u: any) => u.username)).toEqual(['zed_under']);
    const byEmail = await admin.api.get('/api/v1/users?q=zedxunder%40EXAMPLE');
    expect(byEmail.body.items.map((u: any) => u.username)).toEqual(['zedxunder']);
    expect((await admin.api.get('/api/v1/users?q=%25')).body.items).toEqual([]);
    expect((await admin.api.get('/api/v1/users?q=nobody-like-this')).body.items).toEqual([]);
  });

  it('is for admins only', async () => {
    const u = await registerUser(api);
    for (const res of [
      await u.api.get('/api/v1/users'),
      await u.api.post('/api/v1/users', {
        email: 'x@example.com',
        username: 'xuser',
        password: 'long-enough-pass',
      }),
      await u.api.patch(`/api/v1/users/${admin.user.id}`, { disabled: true }),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    expect((await api.get('/api/v1/users')).status).toBe(401);
    // An admin's mcp-only token is not enough either.
    const mcpOnly = await createApiToken(admin.api, ['mcp']);
    expect((await api.withToken(mcpOnly).get('/api/v1/users')).status).toBe(403);
  });
});

describe('creating users', () => {
  it('creates ordinary users and admins who can log in, and audits it', async () => {
    const res = await admin.api.post('/api/v1/users', {
      email: 'Made.By.Admin@Example.com',
      username: 'madebyadmin',
      password: 'given-by-the-admin',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email: 'made.by.admin@example.com', is_admin: false, disabled: false });
    const login = await api.post('/api/v1/auth/login', {
      login: 'madebyadmin',
      password: 'given-by-the-admin',
    });
    expect(login.status).toBe(200);
    const second = await admin.api.post('/api/v1/users', {
      email: 'second.admin@example.com',
      username: 'secondadmin',
      password: 'given-by-the-admin',
      is_admin: true,
    });
    expect(second.body.is_admin).toBe(true);

    const dup = await admin.api.post('/api/v1/users', {
      email: 'made.by.admin@example.com',
      username: 'other-name',
      password: 'given-by-the-admin',
    });
    expect(dup.status).toBe(409);
    const weak = await admin.api.post('/api/v1/users', {
      email: 'weak@example.com',
      username: 'weakling',
      password: 'short',
    });
    expect(weak.status).toBe(400);

    const audit = await admin.api.get(`/api/v1/audit?actor_id=${admin.user.id}&limit=100`);
    const created = audit.body.items.filter((e: any) => e.action === 'admin.user.create');
    expect(created.map((e: any) => e.target)).toEqual(
      expect.arrayContaining([`user:${res.body.id}`, `user:${second.body.id}`]),
    );
  });
});

describe('disabling users', () => {
  it("cuts off the user's sessions and API tokens at once; enabling restores the tokens", async () => {
    const u = await registerUser(api);
    const token = await createApiToken(u.api, ['api', 'mcp']);
    const asToken = api.withToken(token);
    expect((await u.api.get('/api/v1/users/me')).status).toBe(200);
    expect((await asToken.get('/api/v1/users/me')).status).toBe(200); // cached from here on

    const disabled = await admin.api.patch(`/api/v1/users/${u.user.id}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabled).toBe(true);

    expect((await u.api.get('/api/v1/users/me')).status).toBe(401);
    expect((await asToken.get('/api/v1/users/me')).status).toBe(401);
    expect((await asToken.get('/api/v1/users/me')).status).toBe(401);
    const login = await api.post('/api/v1/auth/login', { login: u.email, password: u.password });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe('account_disabled');
    // A wrong password says nothing about the account's state.
    const wrong = await api.post('/api/v1/auth/login', { login: u.email, password: 'not-the-password' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);

    const enabled = await admin.api.patch(`/api/v1/users/${u.user.id}`, { disabled: false });
    expect(enabled.body.disabled).toBe(false);
    expect((await asToken.get('/api/v1/users/me')).status).toBe(200);
    // Disabling ended the console sessions for good; logging in again starts a new one.
    expect((await u.api.get('/api/v1/users/me')).status).toBe(401);
    const again = await api.post('/api/v1/auth/login', { login: u.email, password: u.password });
    expect(again.status).toBe(200);
    expect((await api.withToken(again.body.access_token).get('/api/v1/users/me')).status).toBe(200);
  });

  it('an admin cannot disable or demote themselves; unknown users are 404', async () => {
    const self = await admin.api.patch(`/api/v1/users/${admin.user.id}`, { disabled: true });
    expect(self.status).toBe(409);
    expect(self.body.error.code).toBe('conflict');
    expect((await admin.api.patch(`/api/v1/users/${admin.user.id}`, { is_admin: false })).status).toBe(409);
    expect((await admin.api.get('/api/v1/users/me')).body).toMatchObject({ is_admin: true, disabled: false });
    const missing = await admin.api.patch('/api/v1/users/00000000-0000-4000-8000-000000000000', {
      disabled: true,
    });
    expect(missing.status).toBe(404);
    expect((await admin.api.patch('/api/v1/users/not-a-uuid', { disabled: true })).status).toBe(400);
  });

  it('promotion and demotion apply to API tokens at once', async () => {
    const u = await registerUser(api);
    const asToken = api.withToken(await createApiToken(u.api, ['api']));
    expect((await asToken.get('/api/v1/users')).status).toBe(403);
    await admin.api.patch(`/api/v1/users/${u.user.id}`, { is_admin: true });
    expect((await asToken.get('/api/v1/users')).status).toBe(200);
    await admin.api.patch(`/api/v1/users/${u.user.id}`, { is_admin: false });
    expect((await asToken.get('/api/v1/users')).status).toBe(403);
  });
});

const MISSING_ID = '00000000-0000-4000-8000-000000000000';

async function auditOf(action: string, userId: string) {
  return db()
    .select()
    .from(tables.auditEvents)
    .where(and(eq(tables.auditEvents.action, action), eq(tables.auditEvents.target, `user:${userId}`)));
}

describe('deleting users', () => {
  it('removes the user with everything they own, frees their blobs, cuts off their credentials, and audits it', async () => {
    const u = await registerUser(api);
    const token = api.withToken(await createApiToken(u.api, ['api']));
    const upload = await u.api.post(
      '/api/v1/skills',
      await skillZip(`doomed-${u.user.id.slice(0, 8)}`, `Only ${u.user.id} has these bytes`),
    );
    expect(upload.status).toBe(201);
    const blobsBefore = (await db().select({ sha256: tables.blobs.sha256 }).from(tables.blobs)).length;

    const res = await admin.api.delete(`/api/v1/users/${u.user.id}`);
    expect(res.status).toBe(204);
    expect(await db().select().from(tables.users).where(eq(tables.users.id, u.user.id))).toHaveLength(0);
    expect(await db().select().from(tables.skills).where(eq(tables.skills.ownerId, u.user.id))).toHaveLength(
      0,
    );
    // The SKILL.md blob was the user's alone: freed with the account (the same hooks as self-deletion).
    expect((await db().select({ sha256: tables.blobs.sha256 }).from(tables.blobs)).length).toBeLessThan(
      blobsBefore,
    );
    expect((await u.api.get('/api/v1/users/me')).status).toBe(401);
    expect((await token.get('/api/v1/users/me')).status).toBe(401);
    expect((await api.post('/api/v1/auth/login', { login: u.email, password: u.password })).status).toBe(401);
    const [event] = await auditOf('admin.user.delete', u.user.id);
    expect(event).toMatchObject({ actorId: admin.user.id, result: 'success' });

    expect((await admin.api.delete(`/api/v1/users/${u.user.id}`)).status).toBe(404);
  });

  it('refuses unknown ids, non-admins, and deleting oneself', async () => {
    expect((await admin.api.delete(`/api/v1/users/${MISSING_ID}`)).status).toBe(404);
    expect((await admin.api.delete('/api/v1/users/not-a-uuid')).status).toBe(400);
    const u = await registerUser(api);
    const forbidden = await u.api.delete(`/api/v1/users/${admin.user.id}`);
    expect(forbidden.status).toBe(403);
    const self = await admin.api.delete(`/api/v1/users/${admin.user.id}`);
    expect(self.status).toBe(409);
    expect(self.body.error.code).toBe('conflict');
    expect((await admin.api.get('/api/v1/users/me')).status).toBe(200);
  });

  it('never removes the last administrator, also when two admins remove each other at the same time', async () => {
    const made = await admin.api.post('/api/v1/users', {
      email: 'rival.admin@example.com',
      username: 'rivaladmin',
      password: 'rival-admin-password',
      is_admin: true,
    });
    // Every other admin made by earlier tests steps down first, so that these two are the only ones.
    await db()
      .update(tables.users)
      .set({ isAdmin: false })
      .where(sql`${tables.users.isAdmin} and ${tables.users.id} not in (${admin.user.id}, ${made.body.id})`);
    // Both requests are past the edge's admin check (as when they arrive together): the service must serialise.
    const accounts = t.server.ctx.accounts;
    const asAdmin = (userId: string) => ({
      userId,
      isAdmin: true,
      via: 'session' as const,
      scopes: ['api' as const],
    });
    const demotions = await Promise.allSettled([
      accounts.adminUpdateUser(asAdmin(admin.user.id), made.body.id, { is_admin: false }, null),
      accounts.adminUpdateUser(asAdmin(made.body.id), admin.user.id, { is_admin: false }, null),
    ]);
    expect(demotions.map((d) => d.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = demotions.find((d) => d.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ status: 409, code: 'conflict' });
    const admins = await db().select().from(tables.users).where(eq(tables.users.isAdmin, true));
    expect(admins).toHaveLength(1);
    // Nor can the survivor be deleted or disabled by an admin whose rights were taken away a moment earlier.
    const survivor = admins[0]!.id;
    const other = survivor === admin.user.id ? made.body.id : admin.user.id;
    await expect(accounts.adminDeleteUser(asAdmin(other), survivor, null)).rejects.toMatchObject({
      status: 409,
    });
    await expect(
      accounts.adminUpdateUser(asAdmin(other), survivor, { disabled: true }, null),
    ).rejects.toMatchObject({ status: 409 });
    expect(await db().select().from(tables.users).where(eq(tables.users.id, survivor))).toHaveLength(1);
    // Restore the root admin for the tests that follow.
    await db().update(tables.users).set({ isAdmin: true }).where(eq(tables.users.id, admin.user.id));
  });
});

describe('setting a password', () => {
  it("replaces the password, ends the user's sessions but not their API tokens, and audits it", async () => {
    const u = await registerUser(api);
    const token = api.withToken(await createApiToken(u.api, ['api']));
    const res = await admin.api.post(`/api/v1/users/${u.user.id}/password`, { password: 'set-by-an-admin' });
    expect(res.status).toBe(204);
    expect((await u.api.get('/api/v1/users/me')).status).toBe(401);
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);
    expect((await token.get('/api/v1/users/me')).status).toBe(200);
    expect((await api.post('/api/v1/auth/login', { login: u.email, password: u.password })).status).toBe(401);
    expect(
      (await api.post('/api/v1/auth/login', { login: u.email, password: 'set-by-an-admin' })).status,
    ).toBe(200);
    const [event] = await auditOf('admin.user.password_reset', u.user.id);
    expect(event).toMatchObject({ actorId: admin.user.id, result: 'success' });
    expect(JSON.stringify(event)).not.toContain('set-by-an-admin');
  });

  it('applies the registration rules and refuses unknown ids, non-admins and oneself', async () => {
    const u = await registerUser(api);
    for (const password of ['short', 'password123', u.user.username, 'x'.repeat(257)]) {
      const res = await admin.api.post(`/api/v1/users/${u.user.id}/password`, { password });
      expect(res.status, password).toBe(400);
      expect(res.body.error.details.fields[0].path).toBe('password');
    }
    expect((await admin.api.post(`/api/v1/users/${u.user.id}/password`, {})).status).toBe(400);
    expect((await api.post('/api/v1/auth/login', { login: u.email, password: u.password })).status).toBe(200);
    const missing = await admin.api.post(`/api/v1/users/${MISSING_ID}/password`, {
      password: 'set-by-an-admin',
    });
    expect(missing.status).toBe(404);
    const forbidden = await u.api.post(`/api/v1/users/${admin.user.id}/password`, {
      password: 'set-by-an-admin',
    });
    expect(forbidden.status).toBe(403);
    const self = await admin.api.post(`/api/v1/users/${admin.user.id}/password`, {
      password: 'set-by-an-admin',
    });
    expect(self.status).toBe(409);
    expect(
      (await api.post('/api/v1/auth/login', { login: 'rootadmin', password: admin.password })).status,
    ).toBe(200);
  });
});

describe('audit log', () => {
  it("shows users their own events only and admins everyone's, filterable by actor_id", async () => {
    const a = await registerUser(api);
    const b = await registerUser(api);
    await api.post('/api/v1/auth/login', { login: a.email, password: a.password });
    await api.post('/api/v1/auth/login', { login: b.email, password: 'wrong-password-b' });
    await createApiToken(b.api);

    const own = await allPages(a.api, '/api/v1/audit', 3);
    expect(own.length).toBeGreaterThanOrEqual(2);
    for (const e of own) expect(e.actor_id).toBe(a.user.id);
    expect(own.map((e) => e.action)).toEqual(expect.arrayContaining(['user.register', 'auth.login']));
    // Asking for someone else's events gives your own.
    const sneaky = await a.api.get(`/api/v1/audit?actor_id=${b.user.id}`);
    for (const e of sneaky.body.items) expect(e.actor_id).toBe(a.user.id);

    const everyone = await allPages(admin.api, '/api/v1/audit', 7);
    const actors = new Set(everyone.map((e) => e.actor_id));
    expect(actors).toContain(a.user.id);
    expect(actors).toContain(b.user.id);
    const ids = everyone.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids); // newest first

    const onlyB = await allPages(admin.api, `/api/v1/audit?actor_id=${b.user.id}`, 100);
    expect(onlyB.map((e) => e.action).sort()).toEqual(['auth.login', 'token.create', 'user.register']);
    expect(onlyB.find((e) => e.action === 'auth.login')).toMatchObject({
      result: 'failure',
      ip: expect.stringMatching(/127\.0\.0\.1/),
      details: { reason: 'invalid_credentials' },
    });
    expect((await admin.api.get('/api/v1/audit?actor_id=nope')).status).toBe(400);
    expect((await api.get('/api/v1/audit')).status).toBe(401);
  });
});

describe('SIGNUP=closed', () => {
  let closed: TestServer;
  beforeAll(async () => {
    closed = await startTestServer({ SIGNUP: 'closed' });
  });
  afterAll(() => closed.close());

  it('lets the first user bootstrap, then only admins create accounts', async () => {
    const anon = new Api(closed.baseUrl);
    expect((await anon.get('/api/v1/info')).body.signup).toBe('closed');
    const first = await registerUser(anon, 'bootstrap');
    expect(first.user.is_admin).toBe(true);

    const refused = await anon.post('/api/v1/auth/register', {
      email: 'late@example.com',
      username: 'latecomer',
      password: 'a-long-enough-password',
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden');

    const made = await first.api.post('/api/v1/users', {
      email: 'late@example.com',
      username: 'latecomer',
      password: 'a-long-enough-password',
    });
    expect(made.status).toBe(201);
    expect(made.body.is_admin).toBe(false);
    const login = await anon.post('/api/v1/auth/login', {
      login: 'latecomer',
      password: 'a-long-enough-password',
    });
    expect(login.status).toBe(200);
  });
});
