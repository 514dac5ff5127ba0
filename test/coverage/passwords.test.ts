/** The password rules and hash checks on their own (the account tests reach them only through HTTP). */
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import {
  hashPassword,
  PASSWORD_MAX_LENGTH,
  passwordProblems,
  verifyPassword,
} from '../../src/accounts/passwords.js';

describe('passwordProblems', () => {
  it('accepts a long, uncommon password that is neither the username nor the email', () => {
    expect(passwordProblems('correct horse battery staple', { username: 'ada', email: 'ada@x.org' })).toEqual(
      [],
    );
  });

  it('names every rule a password breaks', () => {
    expect(passwordProblems('short')).toEqual(['must be at least 10 characters']);
    expect(passwordProblems('x'.repeat(PASSWORD_MAX_LENGTH + 1))).toEqual([
      `must be at most ${PASSWORD_MAX_LENGTH} characters`,
    ]);
    expect(passwordProblems('Password123')).toEqual(['is too common; choose a less guessable password']);
    expect(passwordProblems('Ada-Lovelace-1815', { username: 'ada-lovelace-1815' })).toEqual([
      'must not equal the username',
    ]);
    expect(passwordProblems('ADA@example.com', { email: 'ada@example.com' })).toEqual([
      'must not equal the email',
    ]);
  });

  it('counts characters, not UTF-16 units, for the minimum length', () => {
    expect(passwordProblems('🔑'.repeat(10))).toEqual([]);
    expect(passwordProblems('🔑'.repeat(9))).toEqual(['must be at least 10 characters']);
  });
});

describe('verifyPassword', () => {
  it('verifies argon2id hashes without asking for a rehash', async () => {
    const stored = await hashPassword('a long enough secret');
    expect(await verifyPassword('a long enough secret', stored)).toEqual({ ok: true, needsRehash: false });
    expect(await verifyPassword('another secret!!', stored)).toEqual({ ok: false, needsRehash: false });
  });

  it('verifies a legacy bcrypt hash once and asks for it to be replaced', async () => {
    const legacy = bcrypt.hashSync('legacy password', 4);
    expect(await verifyPassword('legacy password', legacy)).toEqual({ ok: true, needsRehash: true });
    expect(await verifyPassword('wrong password', legacy)).toEqual({ ok: false, needsRehash: false });
  });

  it('treats a stored value that is no hash at all as a failed check, not an error', async () => {
    expect(await verifyPassword('anything at all', 'not-a-hash')).toEqual({ ok: false, needsRehash: false });
    expect(await verifyPassword('anything at all', '')).toEqual({ ok: false, needsRehash: false });
  });
});
