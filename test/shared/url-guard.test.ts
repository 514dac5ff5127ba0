import { describe, expect, it } from 'vitest';
import { assertCallableUrl, isPublicAddress } from '../../src/shared/url-guard.js';

describe('the SSRF guard', () => {
  it('tells public from private, local, link-local and mapped addresses', () => {
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:808:808'])
      expect(isPublicAddress(a), a).toBe(true);
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      'not-an-ip',
    ])
      expect(isPublicAddress(a), a).toBe(false);
  });

  it('refuses non-http URLs, credentials in URLs and names that resolve to local addresses', async () => {
    await expect(assertCallableUrl('file:///etc/passwd', 'base_url', false)).rejects.toMatchObject({
      status: 400,
    });
    await expect(assertCallableUrl('http://user:pw@93.184.216.34/', 'base_url', false)).rejects.toMatchObject(
      { status: 400 },
    );
    await expect(assertCallableUrl('http://localhost:8080/v1', 'base_url', false)).rejects.toMatchObject({
      status: 400,
    });
    await expect(assertCallableUrl('http://[::1]/v1', 'base_url', false)).rejects.toMatchObject({
      status: 400,
    });
    expect((await assertCallableUrl('http://93.184.216.34/v1', 'base_url', false)).host).toBe(
      '93.184.216.34',
    );
    expect((await assertCallableUrl('http://localhost:11434/v1', 'base_url', true)).port).toBe('11434');
  });
});
