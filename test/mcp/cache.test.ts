/** The MCP library cache: invalidation, the load/invalidate race, TTL and the size bounds. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LibraryCache } from '../../src/tools/skills/cache.js';
import type { LoadedSkill, SkillsService } from '../../src/skills/index.js';
import { userLibrary } from '../../src/tools/skills/library.js';
import { restrictLibrary } from '../../src/tools/skills/views.js';
import { deferred } from './fixtures.js';

const skill = (name: string, n = 1) =>
  ({ skill: { name }, version: { number: n }, manifest: [] }) as unknown as LoadedSkill;
const rows = (...names: string[]) => names.map((name) => ({ name, description: name, id: name }));

afterEach(() => vi.useRealTimers());

describe('LibraryCache', () => {
  it('serves hits without loading, per user, until invalidated', async () => {
    const cache = new LibraryCache();
    let loads = 0;
    const load = async () => (loads++, rows('a'));
    await cache.catalog('u1', load);
    await cache.catalog('u1', load);
    expect(loads).toBe(1);
    await cache.catalog('u2', load);
    expect(loads).toBe(2);
    cache.invalidate('u1');
    await cache.catalog('u1', load);
    await cache.catalog('u2', load);
    expect(loads).toBe(3);
    cache.invalidate(null); // a shared skill changed: everybody
    await cache.catalog('u2', load);
    expect(loads).toBe(4);
  });

  it('never keeps a result loaded across an invalidation', async () => {
    const cache = new LibraryCache();
    const gate = deferred<LoadedSkill>();
    const slow = cache.skill('u1', 's', () => gate.promise);
    cache.invalidate('u1'); // a new version committed while the old one was being read
    gate.resolve(skill('s', 1));
    expect((await slow).version.number).toBe(1); // the caller that asked first still gets an answer
    expect((await cache.skill('u1', 's', async () => skill('s', 2))).version.number).toBe(2);

    const gate2 = deferred<LoadedSkill>();
    const slow2 = cache.skill('u1', 't', () => gate2.promise);
    cache.invalidate(null);
    gate2.resolve(skill('t', 1));
    await slow2;
    expect((await cache.skill('u1', 't', async () => skill('t', 2))).version.number).toBe(2);
  });

  it('expires entries after the TTL (changes made by another instance)', async () => {
    vi.useFakeTimers();
    const cache = new LibraryCache({ ttlMs: 5_000 });
    await cache.skill('u1', 's', async () => skill('s', 1));
    vi.advanceTimersByTime(4_000);
    expect((await cache.skill('u1', 's', async () => skill('s', 2))).version.number).toBe(1);
    vi.advanceTimersByTime(1_001);
    expect((await cache.skill('u1', 's', async () => skill('s', 2))).version.number).toBe(2);
  });

  it('bounds users, skills per user and file bytes', async () => {
    const cache = new LibraryCache({ maxUsers: 2, maxSkillsPerUser: 2, maxBlobBytes: 10, maxBlobSize: 6 });
    for (const u of ['u1', 'u2', 'u3']) await cache.catalog(u, async () => rows(u));
    let loads = 0;
    await cache.catalog('u1', async () => (loads++, rows('u1')));
    expect(loads).toBe(1); // u1 was the oldest and was dropped

    for (const s of ['a', 'b', 'c']) await cache.skill('u9', s, async () => skill(s));
    let reloaded = false;
    await cache.skill('u9', 'a', async () => ((reloaded = true), skill('a')));
    expect(reloaded).toBe(true);

    let blobLoads = 0;
    const blob = (b: Buffer) => async () => (blobLoads++, b);
    await cache.blob('x', blob(Buffer.alloc(5)));
    await cache.blob('y', blob(Buffer.alloc(5)));
    await cache.blob('big', blob(Buffer.alloc(7))); // over maxBlobSize: never kept
    await cache.blob('big', blob(Buffer.alloc(7)));
    expect(blobLoads).toBe(4);
    await cache.blob('z', blob(Buffer.alloc(5))); // evicts x (least recently used)
    await cache.blob('y', blob(Buffer.alloc(5)));
    await cache.blob('x', blob(Buffer.alloc(5)));
    expect(blobLoads).toBe(6);
  });
});

describe('derived from the cached catalog once', () => {
  it('a warm catalog is the same array in a user view and a restricted one, and a change gives a new one', async () => {
    const cache = new LibraryCache();
    let names = ['a', 'b'];
    const skills = { catalog: async () => rows(...names) } as unknown as SkillsService;
    const library = userLibrary(skills, 'u1', cache);
    const restricted = restrictLibrary(library, ['b']);
    const first = await library.catalog();
    expect(await library.catalog()).toBe(first); // what is rendered from it is rendered once
    expect(first.map((s) => s.name)).toEqual(['a', 'b']);
    const narrowed = await restricted.catalog();
    expect(await restricted.catalog()).toBe(narrowed);
    expect(narrowed.map((s) => s.name)).toEqual(['b']);
    names = ['b', 'c'];
    cache.invalidate('u1');
    const after = await library.catalog();
    expect(after).not.toBe(first);
    expect(after.map((s) => s.name)).toEqual(['b', 'c']);
    expect(await restricted.catalog()).not.toBe(narrowed);
  });
});

describe('listing pages', () => {
  it('are kept per user, cursor and size until a change, and bounded', async () => {
    const cache = new LibraryCache({ maxPagesPerUser: 2 });
    let loads = 0;
    const load = (label: string) => async () => (loads++, { label });
    expect(await cache.page('u1', 'a', load('a1'))).toEqual({ label: 'a1' });
    expect(await cache.page('u1', 'a', load('a2'))).toEqual({ label: 'a1' });
    expect(await cache.page('u2', 'a', load('u2'))).toEqual({ label: 'u2' }); // never another user's page
    expect(loads).toBe(2);
    cache.invalidate('u1');
    expect(await cache.page('u1', 'a', load('a3'))).toEqual({ label: 'a3' });
    await cache.page('u1', 'b', load('b'));
    await cache.page('u1', 'c', load('c')); // a third page pushes out the first
    expect(await cache.page('u1', 'a', load('a4'))).toEqual({ label: 'a4' });
  });
});
