import { describe, expect, it } from 'vitest';
import type { SecretOpenError } from '../../src/shared/secrets.js';
import { SecretBox } from '../../src/shared/secrets.js';

const KEY = 'k'.repeat(40);
const at = { table: 'mcp_servers', id: '8b2c5a8e-0000-4000-8000-000000000001', field: 'env.TOKEN' };

describe('SecretBox', () => {
  it('opens what it sealed, and the sealed text holds nothing of the plaintext', () => {
    const box = new SecretBox(KEY);
    const sealed = box.seal('ghp_supersecret', at);
    expect(sealed).not.toContain('supersecret');
    expect(sealed).toMatch(/^v1\.[0-9a-f]{8}\./);
    expect(box.open(sealed, at)).toBe('ghp_supersecret');
    expect(box.owns(sealed)).toBe(true);
    // Fresh IV every time: the same secret never seals to the same text.
    expect(box.seal('ghp_supersecret', at)).not.toBe(sealed);
  });

  it('refuses a value moved to another row or field, or altered', () => {
    const box = new SecretBox(KEY);
    const sealed = box.seal('value', at);
    const reason = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as SecretOpenError).reason;
      }
      return 'opened';
    };
    expect(reason(() => box.open(sealed, { ...at, id: 'other' }))).toBe('tampered');
    expect(reason(() => box.open(sealed, { ...at, field: 'env.OTHER' }))).toBe('tampered');
    const raw = sealed.split('.');
    const bytes = Buffer.from(raw[2]!, 'base64url');
    bytes[14]! ^= 1;
    expect(reason(() => box.open(`${raw[0]}.${raw[1]}.${bytes.toString('base64url')}`, at))).toBe('tampered');
    expect(reason(() => box.open('plaintext', at))).toBe('malformed');
  });

  it('recognises a value sealed under another SECRET_KEY instead of calling it tampered', () => {
    const sealed = new SecretBox('o'.repeat(40)).seal('value', at);
    const box = new SecretBox(KEY);
    expect(box.owns(sealed)).toBe(false);
    expect(() => box.open(sealed, at)).toThrow(/another SECRET_KEY/);
  });
});
