/**
 * GET /api/v1/audit: filters (validated), readable actors and target labels resolved in the query, and who sees
 * what (a user their own events, an admin everyone's).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { completeAudit, recordAudit } from '../../src/audit/service.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

let t: TestServer;
let api: Api;
let admin: Awaited<ReturnType<typeof registerUser>>;
let alice: Awaited<ReturnType<typeof registerUser>>;
let bob: Awaited<ReturnType<typeof registerUser>>;
let skillId: string;

beforeAll(async () => {
  t = await startTestServer({ AUTH_RATE_LIMIT_PER_IP: '1000' });
  api = new Api(t.baseUrl);
  admin = await registerUser(api, 'auditadmin');
  alice = await registerUser(api, 'auditalice');
  bob = await registerUser(api, 'auditbob');
  const up = await alice.api.post('/api/v1/skills', await skillZip('audited-skill'));
  expect(up.status).toBe(201);
  skillId = up.body.skill.id;
  await createApiToken(alice.api, ['mcp'], 'laptop');
  await api.post('/api/v1/auth/login', { login: 'auditbob', password: 'not bobs password' });
  expect((await admin.api.patch(`/api/v1/users/${bob.user.id}`, { disabled: true })).status).toBe(200);
});
afterAll(() => t.close());

const events = async (session: Api, query = '') => {
  const res = await session.get(`/api/v1/audit?limit=100${query}`);
  expect(res.status, res.text).toBe(200);
  return res.body.items as any[];
};

describe('actors and targets', () => {
  it('names the actor and resolves user, skill and token targets to their names', async () => {
    const all = await events(admin.api);
    const disable = all.find((e) => e.action === 'admin.user.update');
    expect(disable).toMatchObject({
      actor_id: admin.user.id,
      actor: { id: admin.user.id, username: 'auditadmin', email: 'auditadmin@example.com' },
      target: `user:${bob.user.id}`,
      target_label: 'auditbob',
    });
    expect(all.find((e) => e.action === 'skill.create')).toMatchObject({
      actor: { username: 'auditalice' },
      target: `skill:${skillId}`,
      target_label: 'audited-skill',
    });
    expect(all.find((e) => e.action === 'token.create')).toMatchObject({
      actor: { username: 'auditalice' },
      target: expect.stringMatching(/^token:/),
      target_label: 'laptop',
    });
    expect(all.find((e) => e.action === 'auth.login' && e.result === 'failure')).toMatchObject({
      target_label: 'auditbob',
    });
  });

  it('gives a null actor and label once the account and its skill are gone, and keeps the event', async () => {
    const carol = await registerUser(api, 'auditcarol');
    const up = await carol.api.post('/api/v1/skills', await skillZip('carols-skill'));
    expect(up.status).toBe(201);
    const del = await carol.api.delete('/api/v1/users/me', { password: carol.password });
    expect(del.status).toBe(204);
    const created = (await events(admin.api, `&target=skill:${up.body.skill.id}`)).find(
      (e) => e.action === 'skill.create',
    );
    expect(created).toMatchObject({ actor_id: null, actor: null, target_label: null });
  });
});

describe('who sees what', () => {
  it("shows a user only their own events, whatever actor_id they ask for; an admin sees everyone's", async () => {
    const own = await events(alice.api, `&actor_id=${admin.user.id}`);
    expect(own.length).toBeGreaterThanOrEqual(3);
    for (const e of own) expect(e.actor).toMatchObject({ id: alice.user.id, username: 'auditalice' });
    const everyone = new Set((await events(admin.api)).map((e) => e.actor?.username));
    for (const name of ['auditadmin', 'auditalice', 'auditbob']) expect(everyone.has(name)).toBe(true);
  });
});

describe('filters', () => {
  it('filters by actor, action (exact or dotted prefix), result, target and time, combined', async () => {
    const byAlice = await events(admin.api, `&actor_id=${alice.user.id}`);
    expect(byAlice.map((e) => e.action).sort()).toEqual(['skill.create', 'token.create', 'user.register']);

    const exact = await events(admin.api, '&action=skill.create');
    expect(exact.length).toBeGreaterThanOrEqual(1);
    for (const e of exact) expect(e.action).toBe('skill.create');

    const prefix = await events(admin.api, '&action=admin');
    expect(new Set(prefix.map((e) => e.action))).toEqual(new Set(['admin.user.update']));
    // a prefix matches whole dotted segments only: `adm` is not `admin`
    expect(await events(admin.api, '&action=adm')).toEqual([]);

    const failures = await events(admin.api, '&result=failure');
    expect(failures.length).toBeGreaterThanOrEqual(1);
    for (const e of failures) expect(e.result).toBe('failure');

    const onBob = await events(admin.api, `&target=user:${bob.user.id}`);
    expect(onBob.map((e) => e.action).sort()).toEqual(['admin.user.update', 'auth.login', 'user.register']);

    const combined = await events(admin.api, `&target=user:${bob.user.id}&action=auth&result=failure`);
    expect(combined.map((e) => e.action)).toEqual(['auth.login']);

    const all = await events(admin.api);
    const newest = all[0];
    const oldest = all[all.length - 1];
    const since = encodeURIComponent(newest.created_at);
    expect((await events(admin.api, `&since=${since}`)).map((e) => e.id)).toContain(newest.id);
    const until = encodeURIComponent(new Date(Date.parse(oldest.created_at) - 1).toISOString());
    expect(await events(admin.api, `&until=${until}`)).toEqual([]);
    // created_at is shown to the millisecond; PostgreSQL keeps microseconds, so the window ends 1 ms later
    const end = encodeURIComponent(new Date(Date.parse(newest.created_at) + 1).toISOString());
    const window = await events(admin.api, `&since=${encodeURIComponent(oldest.created_at)}&until=${end}`);
    expect(window.length).toBe(all.length);
  });

  it('pages through a filtered list without repeats', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await admin.api.get(
        `/api/v1/audit?action=user&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      for (const e of res.body.items) expect(e.action).toMatch(/^user\./);
      seen.push(...res.body.items.map((e: any) => e.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it.each([
    ['action=auth.%25', 'action'],
    ['action=AUTH', 'action'],
    [`action=${'a'.repeat(65)}`, 'action'],
    ['result=maybe', 'result'],
    ['target=user:%00', 'target'],
    ['target=%ud800', 'target'],
    ['target=has space', 'target'],
    ['actor_id=nope', 'actor_id'],
    ['since=yesterday', 'since'],
    ['until=2026-01-01', 'until'],
    ['since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z', 'until'],
  ])('refuses %s with a 400 naming the field', async (query, field) => {
    const res = await admin.api.get(`/api/v1/audit?${query}`);
    expect(res.status).toBe(400);
    // Text no route may store (a NUL) is refused at the edge, before the route's own rules.
    expect(res.body.error.code).toBe(query.includes('%00') ? 'invalid_input' : 'validation_error');
    expect(JSON.stringify(res.body.error.details)).toContain(field);
  });
});

describe('started events', () => {
  it('filters on result=started: a command recorded before it ran, until it is completed', async () => {
    const id = await recordAudit(t.server.ctx.db.db, {
      actorId: admin.user.id,
      action: 'command.run',
      result: 'started',
      details: { command: 'python scripts/run.py' },
    });
    const started = await events(admin.api, '&result=started');
    expect(started.map((e) => [e.id, e.action, e.result])).toEqual([[id, 'command.run', 'started']]);
    const other = await registerUser(api, 'auditcarol');
    expect(await events(other.api, '&result=started')).toEqual([]); // not her event

    await completeAudit(t.server.ctx.db.db, id, { result: 'success', details: { exit_code: 0 } });
    expect(await events(admin.api, '&result=started')).toEqual([]);
    expect((await events(admin.api, '&result=success')).map((e) => e.id)).toContain(id);
  });
});
