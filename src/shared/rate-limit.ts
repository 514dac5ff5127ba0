import type { Redis } from 'ioredis';
import { UnavailableError } from './errors.js';

/** Fixed-window counters. The in-memory store suits one instance; the Redis store shares limits across instances. */
export interface RateLimiter {
  /** Counts one hit on `key` and says whether it is still within `limit` for the current window. */
  consume(
    key: string,
    limit: number,
    windowSeconds: number,
  ): Promise<{ allowed: boolean; retryAfter: number }>;
  /** The hits counted on `key` in its current window (0 when none), without counting one. */
  peek(key: string): Promise<{ count: number; retryAfter: number }>;
  /** Forgets `key`'s window (e.g. a pair's failures after a successful login). */
  reset(key: string): Promise<void>;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async consume(key: string, limit: number, windowSeconds: number) {
    const now = this.now();
    let w = this.live(key, now);
    if (!w) {
      if (this.windows.size > 100_000) this.sweep(now);
      w = { count: 0, resetAt: now + windowSeconds * 1000 };
      this.windows.set(key, w);
    }
    w.count += 1;
    return { allowed: w.count <= limit, retryAfter: secondsUntil(w.resetAt - now) };
  }

  async peek(key: string) {
    const now = this.now();
    const w = this.live(key, now);
    return w ? { count: w.count, retryAfter: secondsUntil(w.resetAt - now) } : { count: 0, retryAfter: 0 };
  }

  async reset(key: string) {
    this.windows.delete(key);
  }

  private live(key: string, now: number) {
    const w = this.windows.get(key);
    return w && w.resetAt > now ? w : undefined;
  }

  private sweep(now: number) {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }
}

/** Seconds a client is told to wait when Redis does not answer (ioredis reconnects on its own meanwhile). */
export const REDIS_RETRY_AFTER_SECONDS = 5;

/**
 * Counters in Redis, shared by every instance: INCR, and the window's expiry set by the first hit.
 *
 * When Redis does not answer (after the start; ioredis gives up on a command after a couple of reconnection
 * attempts), every call fails closed with 503 `rate_limiter_unavailable` and a Retry-After: the limiter guards
 * logins, and answering them without counting would hand an attacker unlimited password guesses.
 */
export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  consume(key: string, limit: number, windowSeconds: number) {
    return unavailableOnError(async () => {
      const k = this.key(key);
      const [[, count], [, ttl]] = (await this.redis.multi().incr(k).pttl(k).exec()) as [
        [unknown, number],
        [unknown, number],
      ];
      if (ttl < 0) await this.redis.pexpire(k, windowSeconds * 1000);
      const remainingMs = ttl > 0 ? ttl : windowSeconds * 1000;
      return { allowed: count <= limit, retryAfter: secondsUntil(remainingMs) };
    });
  }

  peek(key: string) {
    return unavailableOnError(async () => {
      const k = this.key(key);
      const [[, count], [, ttl]] = (await this.redis.multi().get(k).pttl(k).exec()) as [
        [unknown, string | null],
        [unknown, number],
      ];
      return count === null
        ? { count: 0, retryAfter: 0 }
        : { count: Number(count), retryAfter: secondsUntil(ttl) };
    });
  }

  reset(key: string) {
    return unavailableOnError(async () => {
      await this.redis.del(this.key(key));
    });
  }

  private key(key: string) {
    return `${this.prefix}rl:${key}`;
  }
}

async function unavailableOnError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch {
    // The connection error itself is logged by the event bus (see event-bus.ts); the request gets a clear answer.
    throw new UnavailableError(
      'rate_limiter_unavailable',
      'The rate limiter (Redis) is unavailable; try again shortly',
      { retry_after: REDIS_RETRY_AFTER_SECONDS },
    );
  }
}

const secondsUntil = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
