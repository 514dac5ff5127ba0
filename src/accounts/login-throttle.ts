import { tooManyRequests } from '../shared/errors.js';
import type { RateLimiter } from '../shared/rate-limit.js';

export interface LoginLimits {
  /** Login attempts per client IP and window, whatever the account (bounds password spraying). */
  perIp: number;
  /** Failed logins per (account, client IP) pair and window. */
  perAccount: number;
  windowSeconds: number;
}

/**
 * Failures on one account from every IP, as a multiple of `perAccount`, beyond which only IPs that logged in to
 * the account before may still try (a distributed guesser is stopped; the owner at a known address is not).
 */
const ACCOUNT_WIDE_FACTOR = 10;
/** How long an IP stays "known" for an account after a successful login there. */
const KNOWN_IP_SECONDS = 30 * 86_400;

/**
 * Login rate limits that cannot be turned into a lockout of somebody else. Counting failures per account alone
 * would let anyone lock a user out by failing on purpose; here an attacker's failures block the attacker's own
 * address (per IP, and per account and IP), while the owner logging in from another address goes through. Every
 * check runs before the password is verified, so the argon2 work an attacker can cause stays bounded.
 * `account` is the user's id, or the presented identifier when no such user exists (same limits, same answers).
 */
export class LoginThrottle {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly limits: LoginLimits,
  ) {}

  /** Throws 429 when this attempt must not be verified. */
  async admit(account: string, ip: string | null): Promise<void> {
    const { perIp, perAccount, windowSeconds } = this.limits;
    const from = ip ?? 'unknown';
    await this.consume(`login:ip:${from}`, perIp, windowSeconds);
    // Counted before verifying (so parallel guesses cannot slip past it) and forgotten after a success.
    await this.consume(`login:pair:${account}:${from}`, perAccount, windowSeconds);
    const accountWide = await this.limiter.peek(`login:account:${account}`);
    if (accountWide.count >= perAccount * ACCOUNT_WIDE_FACTOR) {
      const known = await this.limiter.peek(`login:known:${account}:${from}`);
      if (known.count === 0) throw rateLimited(accountWide.retryAfter);
    }
  }

  async failed(account: string): Promise<void> {
    await this.limiter.consume(`login:account:${account}`, Infinity, this.limits.windowSeconds);
  }

  async succeeded(account: string, ip: string | null): Promise<void> {
    const from = ip ?? 'unknown';
    await this.limiter.reset(`login:pair:${account}:${from}`);
    await this.limiter.consume(`login:known:${account}:${from}`, Infinity, KNOWN_IP_SECONDS);
  }

  private async consume(key: string, limit: number, windowSeconds: number): Promise<void> {
    const { allowed, retryAfter } = await this.limiter.consume(key, limit, windowSeconds);
    if (!allowed) throw rateLimited(retryAfter);
  }
}

const rateLimited = (retryAfter: number) => tooManyRequests('Too many attempts; try again later', retryAfter);
