/**
 * SkillsService called directly (no HTTP in between) on a real database: the edges of the library's rules that
 * the route tests do not reach — a package without SKILL.md, CLI re-imports, an old version of somebody else's
 * shared skill, a file missing from a loaded skill, and free text with no searchable word.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../src/db/index.js';
import type { Principal } from '../../src/shared/principal.js';
import { DatabaseBlobStore, SkillsService, type SkillFiles } from '../../src/skills/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let database: TestDatabase;
let skills: SkillsService;
let admin: Principal;
let member: Principal;

async function user(name: string, isAdmin: boolean): Promise<Principal> {
  const [row] = await database.handle.db
    .insert(tables.users)
    .values({ email: `${name}@example.com`, username: name, passwordHash: 'x', isAdmin })
    .returning();
  return { userId: row!.id, isAdmin, via: 'session', scopes: ['api', 'mcp'] };
}

function pkg(name: string, body: string, extra: Record<string, string> = {}): SkillFiles {
  const files = Object.entries({
    'SKILL.md': `---\nname: ${name}\ndescription: The ${name} skill. Use it in tests.\n---\n${body}`,
    ...extra,
  }).map(([path, text]) => ({ path, data: Buffer.from(text), executable: false }));
  return { rootFolder: name, files: files.sort((a, b) => a.path.localeCompare(b.path)), skipped: [] };
}

beforeAll(async () => {
  database = await createTestDatabase();
  skills = new SkillsService(database.handle.db, new DatabaseBlobStore());
  admin = await user('svcadmin', true);
  member = await user('svcmember', false);
});
afterAll(() => database.dispose());

describe('SkillsService', () => {
  it('refuses a package without SKILL.md at its root and stores nothing', async () => {
    const noSkillMd: SkillFiles = {
      rootFolder: null,
      files: [{ path: 'docs/SKILL.md', data: Buffer.from('---\nname: x\n---\n'), executable: false }],
      skipped: [],
    };
    await expect(skills.create(member, noSkillMd, null)).rejects.toMatchObject({
      status: 422,
      code: 'invalid_archive',
    });
    expect((await skills.list(member, { scope: 'own', includeDisabled: true, limit: 10 })).items).toEqual([]);
  });

  it('re-imports a folder as unchanged, or as a new version when a byte or an executable bit differs', async () => {
    const first = await skills.importPackage(member, pkg('importer', '# v1\n', { 'run.sh': 'echo 1\n' }));
    expect(first).toMatchObject({ status: 'created', name: 'importer', result: { version: { number: 1 } } });
    expect(await skills.importPackage(member, pkg('importer', '# v1\n', { 'run.sh': 'echo 1\n' }))).toEqual({
      status: 'unchanged',
      name: 'importer',
    });
    const executable = pkg('importer', '# v1\n', { 'run.sh': 'echo 1\n' });
    executable.files.find((f) => f.path === 'run.sh')!.executable = true;
    const second = await skills.importPackage(member, executable);
    expect(second).toMatchObject({ status: 'updated', result: { version: { number: 2 } } });
    const third = await skills.importPackage(member, pkg('importer', '# v3\n'));
    expect(third).toMatchObject({ status: 'updated', result: { version: { number: 3 } } });
    const files = await skills.files(member, 'importer', 'latest');
    expect(files.map((f) => f.path)).toEqual(['SKILL.md']);
  });

  it('shows another user only the current version of a shared skill, never an older one', async () => {
    await skills.create(admin, pkg('shared-guide', '# first\n'), null);
    await skills.addVersion(admin, 'shared-guide', pkg('shared-guide', '# second\n'), null);
    await skills.update(admin, 'shared-guide', { shared: true }, null);

    const current = await skills.readFile(member, 'shared-guide', 'latest', 'SKILL.md');
    expect(current.data.toString()).toContain('# second');
    expect((await skills.readFile(member, 'shared-guide', 2, 'SKILL.md')).data.toString()).toContain(
      '# second',
    );
    await expect(skills.readFile(member, 'shared-guide', 1, 'SKILL.md')).rejects.toMatchObject({
      status: 404,
    });
    await expect(skills.versionContents(member, 'shared-guide', 1)).rejects.toMatchObject({
      status: 404,
    });
    // The owner still reaches every version.
    expect((await skills.readFile(admin, 'shared-guide', 1, 'SKILL.md')).data.toString()).toContain(
      '# first',
    );
  });

  it('reads the files of a loaded skill, and answers 404 for a path it does not have', async () => {
    await skills.create(member, pkg('loaded', '# Loaded\n', { 'ref/notes.md': 'notes\n' }), null);
    const loaded = await skills.load(member.userId, 'loaded');
    expect(loaded.manifest.map((m) => m.path)).toEqual(['SKILL.md', 'ref/notes.md']);
    const notes = await skills.readLoadedFile(loaded, 'ref/notes.md');
    expect(notes).toMatchObject({ path: 'ref/notes.md', size: 6, executable: false });
    expect(notes.data.toString()).toBe('notes\n');
    expect(notes.contentType).toMatch(/^text\/markdown/);
    await expect(skills.readLoadedFile(loaded, 'ref/missing.md')).rejects.toMatchObject({
      status: 404,
      message: expect.stringContaining('ref/missing.md'),
    });
  });

  it('treats free text without a searchable word as matching nothing', async () => {
    expect(await skills.search(member.userId, '  ?! --- ', 10)).toEqual([]);
    const page = await skills.list(member, {
      q: '***',
      scope: 'all',
      includeDisabled: false,
      limit: 10,
    });
    expect(page).toEqual({ items: [], next_cursor: null });
    // …while a real word finds the skill (so the empty answers above are not an accident of the data).
    expect((await skills.search(member.userId, 'loaded', 10)).map((r) => r.name)).toEqual(['loaded']);
  });

  it("finds nobody else's private skill by name, however it is asked for", async () => {
    await skills.create(admin, pkg('admins-private', '# private\n'), null);
    for (const attempt of [
      () => skills.get(member, 'admins-private'),
      () => skills.load(member.userId, 'admins-private'),
      () => skills.listVersions(member, 'admins-private'),
      () => skills.files(member, 'admins-private', 'latest'),
      () => skills.update(member, 'admins-private', { enabled: false }, null),
      () => skills.delete(member, 'admins-private', null),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ status: 404 });
    }
    expect((await skills.get(admin, 'admins-private')).enabled).toBe(true);
  });
});

describe('SkillsService pages (own and shared skills merged in name order)', () => {
  let reader: Principal;
  beforeAll(async () => {
    const sharer = await user('pagesharer', true);
    reader = await user('pagereader', false);
    // Shared by an administrator: one the reader hides, one the reader's own skill of that name shadows, one
    // disabled (invisible to others), the rest interleaved by name with the reader's own skills.
    for (const name of ['pg-b', 'pg-d', 'pg-f', 'pg-hidden', 'pg-shadowed', 'pg-off']) {
      await skills.create(sharer, pkg(name, '# shared\n'), null);
      await skills.update(sharer, name, { shared: true }, null);
    }
    await skills.update(sharer, 'pg-off', { enabled: false }, null);
    await skills.update(reader, 'pg-hidden', { hidden: true }, null);
    for (const name of ['pg-a', 'pg-c', 'pg-e', 'pg-g', 'pg-shadowed', 'pg-disabled']) {
      await skills.create(reader, pkg(name, '# own\n'), null);
    }
    await skills.update(reader, 'pg-disabled', { enabled: false }, null);
  });

  const names = (items: Array<{ name: string }>) =>
    items.map((i) => i.name).filter((n) => n.startsWith('pg-'));

  it('lists the visible skills of each scope in name order, and the same ones page by page', async () => {
    const expected: Record<string, string[]> = {
      'all,false': ['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e', 'pg-f', 'pg-g', 'pg-shadowed'],
      'all,true': ['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-disabled', 'pg-e', 'pg-f', 'pg-g', 'pg-shadowed'],
      'own,false': ['pg-a', 'pg-c', 'pg-e', 'pg-g', 'pg-shadowed'],
      'own,true': ['pg-a', 'pg-c', 'pg-disabled', 'pg-e', 'pg-g', 'pg-shadowed'],
      // The shared view lists hidden skills too (to unhide them), never a shadowed or disabled one.
      'shared,false': ['pg-b', 'pg-d', 'pg-f', 'pg-hidden'],
      'shared,true': ['pg-b', 'pg-d', 'pg-f', 'pg-hidden'],
    };
    for (const [key, want] of Object.entries(expected)) {
      const [scope, disabled] = key.split(',') as ['all' | 'own' | 'shared', string];
      const query = { scope, includeDisabled: disabled === 'true' };
      expect(names((await skills.list(reader, { ...query, limit: 100 })).items), key).toEqual(want);
      for (const limit of [1, 2, 3]) {
        const walked: Array<{ name: string }> = [];
        let cursor: string | undefined;
        do {
          const page = await skills.list(reader, { ...query, limit, cursor });
          expect(page.items.length).toBeLessThanOrEqual(limit);
          walked.push(...page.items);
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        expect(names(walked), `${key} by ${limit}`).toEqual(want);
      }
    }
  });

  it('pages the MCP catalog the same way', async () => {
    const walked: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await skills.catalogEntries(reader.userId, cursor, 2);
      walked.push(...page.entries.map((e) => e.skill.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(walked.filter((n) => n.startsWith('pg-'))).toEqual([
      'pg-a',
      'pg-b',
      'pg-c',
      'pg-d',
      'pg-e',
      'pg-f',
      'pg-g',
      'pg-shadowed',
    ]);
  });
});
