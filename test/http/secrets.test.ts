import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { tables } from '../../src/db/index.js';
import { Api, type ApiResponse } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Drives every flow that handles a secret, then checks that no secret shows up where it should not: in any log
 * line, or in any response body except the one response that hands it out.
 */

interface Recorded {
  label: string;
  text: string;
}

/** An Api that keeps every response body it receives. */
class RecordingApi extends Api {
  constructor(
    baseUrl: string,
    token: string | undefined,
    private readonly sink: Recorded[],
  ) {
    super(baseUrl, token);
  }
  override withToken(token: string | undefined): RecordingApi {
    return new RecordingApi(this.baseUrl, token, this.sink);
  }
  override async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>> {
    const res = await super.request<T>(method, path, body, headers);
    this.sink.push({ label: `${method} ${path} → ${res.status}`, text: res.text });
    return res;
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let t: TestServer;
const responses: Recorded[] = [];
/** Secrets and the label of the one response allowed to contain each (undefined: none). */
const secrets = new Map<string, string | undefined>();
const keep = (secret: string, allowedIn?: string) => {
  expect(secret.length).toBeGreaterThan(8);
  secrets.set(secret, allowedIn);
};

beforeAll(async () => {
  t = await startTestServer({ AUTH_RATE_LIMIT_PER_IP: '1000' });
});
afterAll(() => t.close());

async function passwordHash(userId: string): Promise<string> {
  const [row] = await t.server.ctx.db.db.select().from(tables.users).where(eq(tables.users.id, userId));
  return row!.passwordHash;
}

const last = () => responses[responses.length - 1]!.label;

describe('secrets', () => {
  it('never appear in log lines or in responses other than the one that hands them out', async () => {
    const api = new RecordingApi(t.baseUrl, undefined, responses);
    keep(t.secretKey);

    // Register (the first user is admin) and a second user.
    const alicePw = 'alice-first-password';
    const reg = await api.post('/api/v1/auth/register', {
      email: 'alice@example.com',
      username: 'alice',
      password: alicePw,
    });
    expect(reg.status).toBe(201);
    keep(alicePw);
    keep(reg.body.refresh_token, last());
    keep(reg.body.access_token, last());
    const aliceId = reg.body.user.id;
    keep(await passwordHash(aliceId));
    const bobPw = 'bob-has-a-password';
    const bobReg = await api.post('/api/v1/auth/register', {
      email: 'bob@example.com',
      username: 'bob',
      password: bobPw,
    });
    keep(bobPw);
    keep(bobReg.body.refresh_token, last());
    keep(bobReg.body.access_token, last());
    keep(await passwordHash(bobReg.body.user.id));

    // Failed and successful logins.
    const wrongPw = 'alice-wrong-guess-pw';
    expect((await api.post('/api/v1/auth/login', { login: 'alice', password: wrongPw })).status).toBe(401);
    keep(wrongPw);
    const unknownPw = 'nobody-guessed-this';
    expect((await api.post('/api/v1/auth/login', { login: 'nobody', password: unknownPw })).status).toBe(401);
    keep(unknownPw);
    const login = await api.post('/api/v1/auth/login', { login: 'alice@example.com', password: alicePw });
    expect(login.status).toBe(200);
    keep(login.body.refresh_token, last());
    keep(login.body.access_token, last());

    // Refresh (rotation) and reuse of the old token.
    const refreshed = await api.post('/api/v1/auth/refresh', { refresh_token: login.body.refresh_token });
    expect(refreshed.status).toBe(200);
    keep(refreshed.body.refresh_token, last());
    keep(refreshed.body.access_token, last());
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: login.body.refresh_token })).status).toBe(
      401,
    );

    // API tokens: create, use, list, revoke (the refreshed session ended with the reuse: use the first one).
    const alice = api.withToken(reg.body.access_token);
    const created = await alice.post('/api/v1/tokens', { name: 'laptop', scopes: ['api', 'mcp'] });
    expect(created.status).toBe(201);
    keep(created.body.token, last());
    keep(sha256(created.body.token));
    const asToken = api.withToken(created.body.token);
    expect((await asToken.get('/api/v1/users/me')).status).toBe(200);
    expect((await alice.get('/api/v1/tokens')).status).toBe(200);
    const second = await alice.post('/api/v1/tokens', { name: 'other', scopes: ['mcp'] });
    keep(second.body.token, last());
    keep(sha256(second.body.token));
    expect((await alice.delete(`/api/v1/tokens/${second.body.id}`)).status).toBe(204);
    expect((await api.withToken(second.body.token).get('/api/v1/users/me')).status).toBe(401);

    // Password change (wrong current password first).
    const newPw = 'alice-second-password';
    keep(newPw);
    expect(
      (await alice.post('/api/v1/users/me/password', { current_password: wrongPw, new_password: newPw }))
        .status,
    ).toBe(400);
    expect(
      (await alice.post('/api/v1/users/me/password', { current_password: alicePw, new_password: newPw }))
        .status,
    ).toBe(204);
    keep(await passwordHash(aliceId));
    const relogin = await api.post('/api/v1/auth/login', { login: 'alice', password: newPw });
    keep(relogin.body.refresh_token, last());
    keep(relogin.body.access_token, last());

    // Admin views and the audit log, where details of every event above are shown.
    const admin = api.withToken(relogin.body.access_token);
    expect((await admin.get('/api/v1/users?limit=100')).status).toBe(200);
    expect((await admin.get('/api/v1/audit?limit=100')).status).toBe(200);
    expect((await admin.get('/metrics')).status).toBe(200);
    expect(
      (await api.post('/api/v1/auth/logout', { refresh_token: relogin.body.refresh_token })).status,
    ).toBe(204);

    // Account deletion (wrong password first).
    const bob = api.withToken(bobReg.body.access_token);
    expect((await bob.delete('/api/v1/users/me', { password: wrongPw })).status).toBe(400);
    expect((await bob.delete('/api/v1/users/me', { password: bobPw })).status).toBe(204);

    // Refresh-token hashes are secrets too.
    for (const row of await t.server.ctx.db.db.select().from(tables.refreshTokens)) keep(row.tokenHash);

    expect(responses.length).toBeGreaterThan(20);
    expect(t.logs.length).toBeGreaterThan(20);
    for (const [secret, allowedIn] of secrets) {
      for (const line of t.logs) expect(line.includes(secret), `secret in log line ${line}`).toBe(false);
      for (const r of responses) {
        if (r.label === allowedIn) continue;
        expect(r.text.includes(secret), `secret in response to ${r.label}`).toBe(false);
      }
    }
    for (const line of t.logs) expect(line).not.toMatch(/\$argon2|\$2[aby]\$/);
    for (const r of responses) expect(r.text).not.toMatch(/\$argon2|\$2[aby]\$|password_hash|token_hash/);
  });

  it('stay out of the log when a query fails: parameters of failed queries are not logged', async () => {
    const db = t.server.ctx.db.db;
    const api = new RecordingApi(t.baseUrl, undefined, responses);
    const password = 'carol-first-password';
    const reg = await api.post('/api/v1/auth/register', {
      email: 'carol@example.com',
      username: 'carol',
      password,
    });
    expect(reg.status).toBe(201);
    // Make the next password update of this user fail inside the database (NOT VALID: existing rows stay).
    await db.execute(
      sql.raw(
        `ALTER TABLE users ADD CONSTRAINT test_refuse_carol CHECK (username <> 'carol' OR password_hash NOT LIKE '$argon2id$%') NOT VALID`,
      ),
    );
    try {
      const newPassword = 'carol-second-password';
      const res = await api
        .withToken(reg.body.access_token)
        .post('/api/v1/users/me/password', { current_password: password, new_password: newPassword });
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('internal_error');
      const errors = t.logs.filter((l) => l.includes('"unhandled error"'));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.join('\n')).toContain('test_refuse_carol'); // the cause is still logged
      for (const line of t.logs) {
        expect(line).not.toMatch(/\$argon2/);
        expect(line).not.toContain(newPassword);
        expect(line).not.toContain(password);
      }
    } finally {
      await db.execute(sql.raw('ALTER TABLE users DROP CONSTRAINT test_refuse_carol'));
    }
  });
});
