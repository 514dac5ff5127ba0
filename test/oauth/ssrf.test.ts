/** The guard in front of client metadata document fetches: private targets are refused before any packet. */
import { describe, expect, it } from 'vitest';
import { guardedFetch } from '../../src/oauth/ssrf.js';
import { isPublicAddress } from '../../src/shared/url-guard.js';

describe('the address rule of metadata URLs (isPublicAddress)', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    'not-an-address',
  ])('refuses %s', (address) => expect(isPublicAddress(address)).toBe(false));

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (address) =>
    expect(isPublicAddress(address)).toBe(true),
  );
});

describe('guardedFetch', () => {
  it.each(['https://10.0.0.1/client.json', 'https://[::1]/client.json', 'https://169.254.169.254/latest'])(
    'refuses %s without connecting',
    async (url) => {
      await expect(guardedFetch(url)).rejects.toThrow(/private address/);
    },
  );

  it('refuses a name that resolves to a private address', async () => {
    await expect(guardedFetch('https://localhost/client.json')).rejects.toThrow(/private address/);
  });
});
