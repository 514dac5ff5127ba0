/** Console access tokens: verified once and then served from memory, never past their expiry. */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessTokens } from '../../src/accounts/access-tokens.js';

afterEach(() => vi.useRealTimers());

describe('AccessTokens.verify', () => {
  it('keeps answering a verified token until it expires, and then refuses it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-30T12:00:00Z'));
    const tokens = new AccessTokens('k'.repeat(64), 60);
    const [userId, sessionId] = [randomUUID(), randomUUID()];
    const token = await tokens.sign(userId, sessionId);
    expect(await tokens.verify(token)).toEqual({ userId, sessionId });
    vi.setSystemTime(new Date('2026-11-30T12:00:59Z'));
    expect(await tokens.verify(token)).toEqual({ userId, sessionId }); // from memory
    vi.setSystemTime(new Date('2026-11-30T12:01:01Z'));
    expect(await tokens.verify(token)).toBeNull();
    expect(await tokens.verify(token)).toBeNull();
  });

  it('refuses a token signed with another key or altered, whatever was verified before', async () => {
    const tokens = new AccessTokens('k'.repeat(64), 60);
    const token = await tokens.sign(randomUUID(), randomUUID());
    expect(await tokens.verify(token)).not.toBeNull();
    const foreign = await new AccessTokens('x'.repeat(64), 60).sign(randomUUID(), randomUUID());
    expect(await tokens.verify(foreign)).toBeNull();
    const [header, payload, signature] = token.split('.');
    const flipped = signature!.startsWith('A') ? `B${signature!.slice(1)}` : `A${signature!.slice(1)}`;
    expect(await tokens.verify(`${header}.${payload}.${flipped}`)).toBeNull();
  });
});
