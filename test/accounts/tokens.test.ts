import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, inArray, sql } from 'drizzle-orm';
import { tables } from '../../src/db/index.js';
import { ApiTokens } from '../../src/accounts/api-tokens.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let api: Api;
const db = () => t.server.ctx.db.db;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const encodeCursor = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

beforeAll(async () => {
  t = await startTestServer({ AUTH_RATE_LIMIT_PER_IP: '1000' });
  api = new Api(t.baseUrl);
  await registerUser(api, 'tokensadmin'); // the first account is admin; the tests below use ordinary users
});
afterAll(() => t.close());

async function tokenRow(id: string) {
  const [row] = await db().select().from(tables.apiTokens).where(eq(tables.apiTokens.id, id));
  return row!;
}

describe('create', () => {
  it('returns the plaintext once, keeps a 12-character prefix and only the SHA-256, and defaults to mcp', async () => {
    const u = await registerUser(api);
    const res = await u.api.post('/api/v1/tokens', { name: 'laptop' });
    expect(res.status).toBe(201);
    const token: string = res.body.token;
    expect(token).toMatch(/^ask_live_[0-9a-f]{64}$/);
    expect(res.body).toMatchObject({
      name: 'laptop',
      prefix: token.slice(0, 12),
      scopes: ['mcp'],
      expires_at: null,
      last_used_at: null,
      revoked_at: null,
    });
    expect(res.body.prefix).toHaveLength(12);

    const row = await tokenRow(res.body.id);
    expect(row.tokenHash).toBe(sha256(token));
    // No column holds the plaintext or its secret part.
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(token.slice(12));

    const list = await u.api.get('/api/v1/tokens');
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).not.toHaveProperty('token');
    expect(list.body.items[0].prefix).toBe(token.slice(0, 12));
    expect(list.text).not.toContain(token.slice(12));

    const second = await createApiToken(u.api, ['mcp'], 'desktop');
    expect(second).not.toBe(token);
  });

  it('keeps both scopes once each, and an expiry in the future', async () => {
    const u = await registerUser(api);
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    const res = await u.api.post('/api/v1/tokens', {
      name: 'ci',
      scopes: ['api', 'mcp'],
      expires_at: expires,
    });
    expect(res.status).toBe(201);
    expect([...res.body.scopes].sort()).toEqual(['api', 'mcp']);
    expect(res.body.expires_at).toBe(expires);
    const dup = await u.api.post('/api/v1/tokens', { name: 'dup', scopes: ['api', 'api'] });
    expect(dup.status).toBe(201);
    expect(dup.body.scopes).toEqual(['api']);
  });

  it('lists every invalid field and refuses an expiry in the past', async () => {
    const u = await registerUser(api);
    const bad = await u.api.post('/api/v1/tokens', { name: '', scopes: ['root'], expires_at: 'tomorrow' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_error');
    const paths = bad.body.error.details.fields.map((f: any) => f.path).sort();
    expect(paths).toEqual(['expires_at', 'name', 'scopes.0']);
    expect((await u.api.post('/api/v1/tokens', { name: 'none', scopes: [] })).status).toBe(400);
    expect((await u.api.post('/api/v1/tokens', { name: 'x'.repeat(101) })).status).toBe(400);

    const past = await u.api.post('/api/v1/tokens', {
      name: 'old',
      expires_at: new Date(Date.now() - 60_000).toISOString(),
    });
    expect(past.status).toBe(400);
    expect(past.body.error.details.fields[0].path).toBe('expires_at');
    expect((await u.api.get('/api/v1/tokens')).body.items).toHaveLength(0);
  });

  it('records token.create in the audit log without the plaintext', async () => {
    const u = await registerUser(api);
    const token = await createApiToken(u.api, ['mcp'], 'audited');
    const audit = await u.api.get('/api/v1/audit?limit=100');
    const event = audit.body.items.find((e: any) => e.action === 'token.create');
    expect(event).toMatchObject({ actor_id: u.user.id, result: 'success', details: { name: 'audited' } });
    expect(audit.text).not.toContain(token.slice(12));
  });
});

describe('list', () => {
  it('is newest first, pages by cursor without gaps or repeats, and shows only your own tokens', async () => {
    const u = await registerUser(api);
    const other = await registerUser(api);
    await createApiToken(other.api, ['mcp'], 'not-yours');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await u.api.post('/api/v1/tokens', { name: `t${i}` });
      ids.push(res.body.id);
    }
    // Five tokens created within one millisecond (PostgreSQL keeps microseconds): the cursor must not
    // lose precision, or rows repeat or go missing between pages.
    await db()
      .update(tables.apiTokens)
      .set({
        createdAt: sql`'2030-01-01T00:00:00.123Z'::timestamptz + (substring(${tables.apiTokens.name} from 2)::int + 1) * interval '1 microsecond'`,
      })
      .where(inArray(tables.apiTokens.id, ids));

    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: any = await u.api.get(`/api/v1/tokens?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      names.push(...res.body.items.map((i: any) => i.name));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(names).toEqual(['t4', 't3', 't2', 't1', 't0']);
    expect(pages).toBe(3);
  });

  it('refuses cursors it did not issue and out-of-range limits', async () => {
    const u = await registerUser(api);
    const crafted = [
      'not a cursor!',
      encodeCursor(['yesterday', 'abc']),
      encodeCursor(['2030-01-01T00:00:00.000000Z', 'not-a-uuid']),
      encodeCursor(42),
    ];
    for (const cursor of crafted) {
      const res = await u.api.get(`/api/v1/tokens?cursor=${encodeURIComponent(cursor)}`);
      expect(res.status, cursor).toBe(400);
      expect(res.body.error.details.fields[0].path).toBe('cursor');
    }
    expect((await u.api.get('/api/v1/tokens?limit=0')).status).toBe(400);
    expect((await u.api.get('/api/v1/tokens?limit=101')).status).toBe(400);
    expect((await u.api.get('/api/v1/tokens?limit=100')).status).toBe(200);
  });
});

describe('revoke', () => {
  it('stops the token at once and marks it revoked', async () => {
    const u = await registerUser(api);
    const created = await u.api.post('/api/v1/tokens', { name: 'soon-gone', scopes: ['api'] });
    const asToken = api.withToken(created.body.token);
    expect((await asToken.get('/api/v1/users/me')).status).toBe(200); // now cached
    expect((await u.api.delete(`/api/v1/tokens/${created.body.id}`)).status).toBe(204);
    const after = await asToken.get('/api/v1/users/me');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('unauthorized');
    expect((await u.api.delete(`/api/v1/tokens/${created.body.id}`)).status).toBe(404);
    const list = await u.api.get('/api/v1/tokens');
    expect(list.body.items[0].revoked_at).not.toBeNull();
    const audit = await u.api.get('/api/v1/audit');
    expect(audit.body.items.map((e: any) => e.action)).toContain('token.revoke');
  });

  it('another user cannot revoke yours (404, and the token keeps working)', async () => {
    const owner = await registerUser(api);
    const intruder = await registerUser(api);
    const created = await owner.api.post('/api/v1/tokens', { name: 'mine', scopes: ['api'] });
    const res = await intruder.api.delete(`/api/v1/tokens/${created.body.id}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect((await api.withToken(created.body.token).get('/api/v1/users/me')).status).toBe(200);
    expect((await tokenRow(created.body.id)).revokedAt).toBeNull();
    expect((await owner.api.delete('/api/v1/tokens/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await owner.api.delete('/api/v1/tokens/not-a-uuid')).status).toBe(400);
  });
});

describe('expiry', () => {
  it('refuses a token once its expiry has passed', async () => {
    const u = await registerUser(api);
    const created = await u.api.post('/api/v1/tokens', {
      name: 'short-lived',
      scopes: ['api'],
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    // Expire it in the database before its first use, so no cached lookup hides the change.
    await db()
      .update(tables.apiTokens)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(tables.apiTokens.id, created.body.id));
    const res = await api.withToken(created.body.token).get('/api/v1/users/me');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/invalid_token/);

    const valid = await u.api.post('/api/v1/tokens', {
      name: 'long-lived',
      scopes: ['api'],
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect((await api.withToken(valid.body.token).get('/api/v1/users/me')).status).toBe(200);
  });
});

describe('scopes', () => {
  it('an mcp-only token gets 403 insufficient_scope on the REST API', async () => {
    const u = await registerUser(api);
    const token = await createApiToken(u.api, ['mcp']);
    const res = await api.withToken(token).get('/api/v1/users/me');
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('insufficient_scope');
    expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="api"/);
    expect(
      (await api.withToken(token).post('/api/v1/tokens', { name: 'escalate', scopes: ['api'] })).status,
    ).toBe(403);
  });

  it('an api token works in place of a console session', async () => {
    const u = await registerUser(api);
    const token = await createApiToken(u.api, ['api']);
    const asToken = api.withToken(token);
    const me = await asToken.get('/api/v1/users/me');
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(u.user.id);
    expect((await asToken.get('/api/v1/tokens')).body.items).toHaveLength(1);
    expect((await asToken.get('/api/v1/audit')).status).toBe(200);
  });

  it('rejects malformed and unknown tokens alike', async () => {
    for (const bad of [
      'ask_live_abc',
      `ask_live_${'A'.repeat(64)}`,
      `ask_live_${'0'.repeat(64)}`,
      'ask_live_',
    ]) {
      const res = await api.withToken(bad).get('/api/v1/users/me');
      expect(res.status, bad).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });
});

describe('last_used_at', () => {
  it('is written on use, and at most once a minute per token (in process and across instances)', async () => {
    const u = await registerUser(api);
    const created = await u.api.post('/api/v1/tokens', { name: 'used', scopes: ['api'] });
    const id = created.body.id;
    expect((await tokenRow(id)).lastUsedAt).toBeNull();

    const asToken = api.withToken(created.body.token);
    expect((await asToken.get('/api/v1/users/me')).status).toBe(200);
    await t.server.ctx.apiTokens.idle();
    const first = (await tokenRow(id)).lastUsedAt;
    expect(first).not.toBeNull();
    const listed = await u.api.get('/api/v1/tokens');
    expect(listed.body.items[0].last_used_at).toBe(first!.toISOString());

    // Used again straight away: no second write.
    expect((await asToken.get('/api/v1/users/me')).status).toBe(200);
    await t.server.ctx.apiTokens.idle();
    expect((await tokenRow(id)).lastUsedAt).toEqual(first);

    // Another instance on the same database (no in-process memory of the write): the SQL guard holds.
    const otherInstance = new ApiTokens(db());
    expect(await otherInstance.authenticate(created.body.token)).not.toBeNull();
    await otherInstance.idle();
    expect((await tokenRow(id)).lastUsedAt).toEqual(first);

    // Once the last write is more than a minute old, the next use records again.
    const old = new Date(Date.now() - 120_000);
    await db().update(tables.apiTokens).set({ lastUsedAt: old }).where(eq(tables.apiTokens.id, id));
    const thirdInstance = new ApiTokens(db());
    expect(await thirdInstance.authenticate(created.body.token)).not.toBeNull();
    await thirdInstance.idle();
    const latest = (await tokenRow(id)).lastUsedAt!;
    expect(latest.getTime()).toBeGreaterThan(old.getTime() + 60_000);
  });
});
