import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from '../../src/shared/rate-limit.js';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Without TRUST_PROXY every request comes from 127.0.0.1, so the per-IP and per-account limits are tested apart;
 * with it, X-Forwarded-For gives each test client an address of its own.
 */

function expectRateLimited(res: { status: number; body: any; headers: Headers }, windowSeconds: number) {
  expect(res.status).toBe(429);
  expect(res.body.success).toBe(false);
  expect(res.body.error.code).toBe('rate_limited');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
  expect(res.body.error.details.retry_after).toBe(retryAfter);
}

describe('per-account login limit', () => {
  let t: TestServer;
  let api: Api;
  beforeAll(async () => {
    t = await startTestServer({
      AUTH_RATE_LIMIT_PER_ACCOUNT: '3',
      AUTH_RATE_LIMIT_PER_IP: '1000',
      AUTH_RATE_LIMIT_WINDOW_SECONDS: '600',
    });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  it('counts failures per account and address, whether by email or username, and then refuses even the right password from that address', async () => {
    const victim = await registerUser(api, 'victim');
    const bystander = await registerUser(api, 'bystander');
    const attempts = [
      { login: 'victim', password: 'guess-number-one' },
      { login: victim.email.toUpperCase(), password: 'guess-number-two' },
      { login: 'VICTIM', password: 'guess-number-three' },
    ];
    for (const body of attempts) expect((await api.post('/api/v1/auth/login', body)).status).toBe(401);
    expectRateLimited(
      await api.post('/api/v1/auth/login', { login: victim.email, password: victim.password }),
      600,
    );
    expectRateLimited(
      await api.post('/api/v1/auth/login', { login: 'victim', password: victim.password }),
      600,
    );
    // Other accounts are not affected.
    const other = await api.post('/api/v1/auth/login', { login: 'bystander', password: bystander.password });
    expect(other.status).toBe(200);
  });

  it('limits unknown accounts the same way, so the limit does not reveal which accounts exist', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await api.post('/api/v1/auth/login', {
        login: 'ghost-account',
        password: 'whatever-it-is',
      });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_credentials');
    }
    expectRateLimited(
      await api.post('/api/v1/auth/login', { login: 'ghost-account', password: 'again-a-guess' }),
      600,
    );
  });

  it('also limits password checks of a signed-in user (change password, delete account)', async () => {
    const u = await registerUser(api, 'pwguesser');
    for (let i = 0; i < 3; i++) {
      const res = await u.api.post('/api/v1/users/me/password', {
        current_password: `wrong-guess-${i}-here`,
        new_password: 'a-new-long-password',
      });
      expect(res.status).toBe(400);
    }
    expectRateLimited(await u.api.delete('/api/v1/users/me', { password: u.password }), 600);
  });
});

describe('per-IP limits', () => {
  let t: TestServer;
  let api: Api;
  beforeAll(async () => {
    t = await startTestServer({
      AUTH_RATE_LIMIT_PER_IP: '4',
      AUTH_RATE_LIMIT_PER_ACCOUNT: '1000',
      AUTH_RATE_LIMIT_WINDOW_SECONDS: '300',
    });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  it('limits login attempts from one address across many identifiers', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await api.post('/api/v1/auth/login', { login: `spray-${i}`, password: 'sprayed-password' });
      expect(res.status).toBe(401);
    }
    expectRateLimited(
      await api.post('/api/v1/auth/login', { login: 'spray-9', password: 'sprayed-password' }),
      300,
    );
  });

  it('limits registrations from one address', async () => {
    for (let i = 0; i < 4; i++) await registerUser(api, `signup${i}`);
    const res = await api.post('/api/v1/auth/register', {
      email: 'one-too-many@example.com',
      username: 'onetoomany',
      password: 'a-long-enough-password',
    });
    expectRateLimited(res, 300);
  });
});

describe('timing', () => {
  let t: TestServer;
  let api: Api;
  beforeAll(async () => {
    t = await startTestServer({ AUTH_RATE_LIMIT_PER_IP: '10000', AUTH_RATE_LIMIT_PER_ACCOUNT: '10000' });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
  };

  it('a failed login takes as long for an unknown account as for a wrong password', async () => {
    const u = await registerUser(api, 'timed');
    const attempt = async (login: string) => {
      const started = performance.now();
      const res = await api.post('/api/v1/auth/login', { login, password: 'definitely-wrong-pw' });
      const ms = performance.now() - started;
      expect(res.status).toBe(401);
      return { ms, body: res.body };
    };
    // Warm both paths (the dummy hash for unknown accounts is computed on first use).
    await attempt('timed');
    await attempt('nobody-by-that-name');
    const existing: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 10; i++) {
      const a = await attempt(i % 2 ? 'timed' : u.email);
      const b = await attempt(i % 2 ? `ghost${i}` : `ghost${i}@example.com`);
      expect(b.body.error).toEqual(a.body.error);
      existing.push(a.ms);
      unknown.push(b.ms);
    }
    const ratio = median(unknown) / median(existing);
    expect(ratio, `unknown ${median(unknown)} ms vs existing ${median(existing)} ms`).toBeGreaterThan(0.5);
    expect(ratio, `unknown ${median(unknown)} ms vs existing ${median(existing)} ms`).toBeLessThan(2);
  });
});

describe('no lockout of somebody else', () => {
  let t: TestServer;
  let api: Api;
  beforeAll(async () => {
    t = await startTestServer({
      TRUST_PROXY: 'true',
      AUTH_RATE_LIMIT_PER_ACCOUNT: '3',
      AUTH_RATE_LIMIT_PER_IP: '1000',
      AUTH_RATE_LIMIT_WINDOW_SECONDS: '600',
    });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  const from = (ip: string, login: string, password: string) =>
    api.post('/api/v1/auth/login', { login, password }, { 'x-forwarded-for': ip });

  it("an attacker's failures limit the attacker's address, not the owner logging in from another", async () => {
    const victim = await registerUser(api, 'lockvictim');
    for (let i = 0; i < 3; i++)
      expect((await from('203.0.113.66', 'lockvictim', `guess-${i}-wrong`)).status).toBe(401);
    for (let i = 0; i < 10; i++)
      expectRateLimited(await from('203.0.113.66', 'lockvictim', `guess-${i}-more`), 600);
    expect((await from('198.51.100.7', 'lockvictim', victim.password)).status).toBe(200);
    expect((await from('198.51.100.7', victim.email, victim.password)).status).toBe(200);
    // Still limited, even with the right password (no oracle for the attacker).
    expectRateLimited(await from('203.0.113.66', 'lockvictim', victim.password), 600);
  });

  it('a success forgets the failures from that address; the limit counts failures, not logins', async () => {
    const u = await registerUser(api, 'typoowner');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++)
        expect((await from('192.0.2.10', 'typoowner', 'a-typo-in-it')).status).toBe(401);
      expect((await from('192.0.2.10', 'typoowner', u.password)).status).toBe(200);
    }
  });

  it('many addresses failing on one account stop unknown addresses, while the owner at a known one gets in', async () => {
    const u = await registerUser(api, 'botnettarget');
    expect((await from('198.51.100.20', 'botnettarget', u.password)).status).toBe(200); // the owner's usual address
    // 10 × AUTH_RATE_LIMIT_PER_ACCOUNT failures from 10 addresses, each within its own limit.
    for (let ip = 1; ip <= 10; ip++) {
      for (let i = 0; i < 3; i++) {
        expect((await from(`203.0.113.${ip}`, 'botnettarget', `distributed-${i}`)).status).toBe(401);
      }
    }
    expectRateLimited(await from('203.0.113.99', 'botnettarget', 'distributed-new'), 600);
    expectRateLimited(await from('203.0.113.98', 'botnettarget', u.password), 600);
    expect((await from('198.51.100.20', 'botnettarget', u.password)).status).toBe(200);
    // Other accounts are not affected.
    const other = await registerUser(api, 'botnetbystander');
    expect((await from('203.0.113.98', 'botnetbystander', other.password)).status).toBe(200);
  });
});

describe('rate limiter stores', () => {
  const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  beforeAll(() => redis.connect());
  afterAll(() => redis.quit());

  const stores: Array<[string, () => RateLimiter]> = [
    ['memory', () => new MemoryRateLimiter()],
    ['redis', () => new RedisRateLimiter(redis, `skillport-test-${randomBytes(4).toString('hex')}:`)],
  ];
  for (const [name, make] of stores) {
    it(`${name}: consume counts, peek reads without counting, reset forgets`, async () => {
      const limiter = make();
      expect(await limiter.peek('k')).toEqual({ count: 0, retryAfter: 0 });
      expect(await limiter.consume('k', 2, 60)).toEqual({ allowed: true, retryAfter: 60 });
      expect((await limiter.consume('k', 2, 60)).allowed).toBe(true);
      const third = await limiter.consume('k', 2, 60);
      expect(third.allowed).toBe(false);
      expect(third.retryAfter).toBeGreaterThan(0);
      expect(third.retryAfter).toBeLessThanOrEqual(60);
      const peeked = await limiter.peek('k');
      expect(peeked.count).toBe(3);
      expect(peeked.retryAfter).toBeGreaterThan(0);
      expect((await limiter.peek('k')).count).toBe(3);
      expect((await limiter.peek('other')).count).toBe(0);
      await limiter.reset('k');
      expect((await limiter.peek('k')).count).toBe(0);
      expect((await limiter.consume('k', 2, 60)).allowed).toBe(true);
    });
  }
});
