import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, inArray } from 'drizzle-orm';
import { tables } from '../../src/db/index.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let api: Api;
const db = () => t.server.ctx.db.db;

beforeAll(async () => {
  t = await startTestServer({ AUTH_RATE_LIMIT_PER_IP: '1000' });
  api = new Api(t.baseUrl);
  await registerUser(api, 'cascadeadmin');
});
afterAll(() => t.close());

/** Skill rows written straight into the database: the foreign keys, not the skills code, are under test. */
async function insertSkill(ownerId: string, name: string) {
  const [skill] = await db()
    .insert(tables.skills)
    .values({ ownerId, name, description: `${name} description`, shared: true })
    .returning();
  const [version] = await db()
    .insert(tables.skillVersions)
    .values({
      skillId: skill!.id,
      number: 1,
      frontmatter: { name },
      warnings: [],
      fileCount: 0,
      sizeBytes: 0,
    })
    .returning();
  return { skill: skill!, version: version! };
}

async function owned(userId: string) {
  const count = async (rows: Promise<unknown[]>) => (await rows).length;
  return {
    users: await count(db().select().from(tables.users).where(eq(tables.users.id, userId))),
    refreshTokens: await count(
      db().select().from(tables.refreshTokens).where(eq(tables.refreshTokens.userId, userId)),
    ),
    apiTokens: await count(db().select().from(tables.apiTokens).where(eq(tables.apiTokens.userId, userId))),
    skills: await count(db().select().from(tables.skills).where(eq(tables.skills.ownerId, userId))),
    hiddenSkills: await count(
      db().select().from(tables.hiddenSkills).where(eq(tables.hiddenSkills.userId, userId)),
    ),
  };
}

describe('deleting an account', () => {
  it('removes its tokens and skills, keeps other users’ data, and keeps its audit events without an actor', async () => {
    const doomed = await registerUser(api);
    const neighbour = await registerUser(api);
    await createApiToken(doomed.api, ['mcp'], 'one');
    await createApiToken(doomed.api, ['api'], 'two');
    await api.post('/api/v1/auth/login', { login: doomed.email, password: doomed.password }); // a second session
    const mine = await insertSkill(doomed.user.id, 'doomed-skill');
    const theirs = await insertSkill(neighbour.user.id, 'neighbour-skill');
    await db().insert(tables.hiddenSkills).values({ userId: doomed.user.id, skillId: theirs.skill.id });
    await db().insert(tables.hiddenSkills).values({ userId: neighbour.user.id, skillId: mine.skill.id });

    expect(await owned(doomed.user.id)).toEqual({
      users: 1,
      refreshTokens: 2,
      apiTokens: 2,
      skills: 1,
      hiddenSkills: 1,
    });
    const eventIds = (
      await db()
        .select({ id: tables.auditEvents.id })
        .from(tables.auditEvents)
        .where(eq(tables.auditEvents.actorId, doomed.user.id))
    ).map((r) => r.id);
    expect(eventIds.length).toBeGreaterThanOrEqual(4); // register, two token.create, login

    expect((await doomed.api.delete('/api/v1/users/me', { password: doomed.password })).status).toBe(204);

    expect(await owned(doomed.user.id)).toEqual({
      users: 0,
      refreshTokens: 0,
      apiTokens: 0,
      skills: 0,
      hiddenSkills: 0,
    });
    expect(
      await db().select().from(tables.skillVersions).where(eq(tables.skillVersions.skillId, mine.skill.id)),
    ).toHaveLength(0);
    // The neighbour's skill survives; their "hidden" mark on the deleted skill went with it.
    expect(await owned(neighbour.user.id)).toMatchObject({ users: 1, skills: 1, hiddenSkills: 0 });
    expect(
      await db().select().from(tables.skillVersions).where(eq(tables.skillVersions.id, theirs.version.id)),
    ).toHaveLength(1);

    // The security record outlives the account.
    const kept = await db().select().from(tables.auditEvents).where(inArray(tables.auditEvents.id, eventIds));
    expect(kept).toHaveLength(eventIds.length);
    for (const e of kept) expect(e.actorId).toBeNull();
    const deletion = await db()
      .select()
      .from(tables.auditEvents)
      .where(eq(tables.auditEvents.target, `user:${doomed.user.id}`));
    expect(deletion.map((e) => e.action)).toContain('user.delete');
  });

  it('with a wrong password removes nothing', async () => {
    const u = await registerUser(api);
    await createApiToken(u.api);
    await insertSkill(u.user.id, 'kept-skill');
    const res = await u.api.delete('/api/v1/users/me', { password: 'not-my-password' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_password');
    expect(await owned(u.user.id)).toEqual({
      users: 1,
      refreshTokens: 1,
      apiTokens: 1,
      skills: 1,
      hiddenSkills: 0,
    });
  });

  it('cascades in the database itself, whoever deletes the user row', async () => {
    const u = await registerUser(api);
    const token = await createApiToken(u.api, ['api']);
    const { skill } = await insertSkill(u.user.id, 'fk-skill');
    await db().delete(tables.users).where(eq(tables.users.id, u.user.id));
    expect(await owned(u.user.id)).toEqual({
      users: 0,
      refreshTokens: 0,
      apiTokens: 0,
      skills: 0,
      hiddenSkills: 0,
    });
    expect(
      await db().select().from(tables.skillVersions).where(eq(tables.skillVersions.skillId, skill.id)),
    ).toEqual([]);
    const events = await db()
      .select()
      .from(tables.auditEvents)
      .where(eq(tables.auditEvents.target, `user:${u.user.id}`));
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) expect(e.actorId).toBeNull();
    expect((await api.withToken(token).get('/api/v1/users/me')).status).toBe(401);
    // A row deleted behind the service's back emits no `credentials-changed`: the console session's principal,
    // cached by the Authenticator since the token was created above, may be honoured until its TTL (5 s), but
    // never reaches anything, since everything the user owned is gone; then the credential is refused.
    expect([401, 404]).toContain((await u.api.get('/api/v1/users/me')).status);
    const deadline = Date.now() + 10_000;
    while ((await u.api.get('/api/v1/users/me')).status !== 401) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 20_000);
});
