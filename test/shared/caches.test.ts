import { afterEach, describe, expect, it, vi } from 'vitest';
import { CandidateCache } from '../../src/search/candidates.js';
import { VectorCache } from '../../src/search/vectors.js';
import { TtlCache } from '../../src/shared/ttl-cache.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('TtlCache', () => {
  it('keeps a loaded value, null included, until its time is up', async () => {
    // lru-cache reads the clock through performance.now() and keeps a reading for 1 ms (a timer resets it).
    let now = 1_000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const cache = new TtlCache<string, string | null>(1_000);
    const load = vi.fn(async () => null);
    expect(await cache.get('a', load)).toBeNull();
    expect(await cache.get('a', load)).toBeNull();
    expect(load).toHaveBeenCalledTimes(1);
    now += 999;
    vi.advanceTimersByTime(999);
    expect(await cache.get('a', async () => 'early')).toBeNull();
    now += 2;
    vi.advanceTimersByTime(2);
    expect(await cache.get('a', async () => 'fresh')).toBe('fresh');
  });

  it('drops the least recently used entry beyond its size, and everything on clear', async () => {
    const cache = new TtlCache<string, number>(60_000, 2);
    await cache.get('a', async () => 1);
    await cache.get('b', async () => 2);
    await cache.get('a', async () => -1); // a is now the most recently used
    await cache.get('c', async () => 3);
    expect(await cache.get('a', async () => -1)).toBe(1);
    expect(await cache.get('b', async () => 20)).toBe(20);
    cache.clear();
    expect(await cache.get('a', async () => 10)).toBe(10);
  });
});

describe('CandidateCache', () => {
  it('shares one load, and forgets a failed one', async () => {
    const cache = new CandidateCache();
    const ids = [{ id: '1', name: 'x', stamp: 's' }];
    const load = vi.fn(async () => ids);
    const [a, b] = await Promise.all([cache.get('k', load), cache.get('k', load)]);
    expect(a).toBe(ids);
    expect(b).toBe(ids);
    expect(load).toHaveBeenCalledTimes(1);
    await expect(cache.get('bad', async () => Promise.reject(new Error('db down')))).rejects.toThrow(
      'db down',
    );
    expect(await cache.get('bad', async () => ids)).toBe(ids);
  });
});

describe('VectorCache', () => {
  it('misses on a newer stamp and stays within its byte budget, least recently used out first', () => {
    const cache = new VectorCache(3 * 16); // three vectors of four floats
    const v = (n: number) => new Float32Array([n, n, n, n]);
    cache.set('a', 's1', v(1));
    expect(cache.get('a', 's2')).toBeUndefined();
    expect(cache.get('a', 's1')).toEqual(v(1));
    cache.set('b', 's1', v(2));
    cache.set('c', 's1', v(3));
    cache.get('a', 's1');
    cache.set('d', 's1', v(4));
    expect(cache.get('b', 's1')).toBeUndefined();
    expect(cache.get('a', 's1')).toEqual(v(1));
    expect(cache.get('d', 's1')).toEqual(v(4));
    cache.set('a', 's2', v(5)); // a new embedding replaces the old one
    expect(cache.get('a', 's1')).toBeUndefined();
    expect(cache.get('a', 's2')).toEqual(v(5));
  });
});
