import { isPublicAddress } from '../../src/shared/url-guard.js';
import { describe, expect, it } from 'vitest';
import { EXPOSED_NAME, exposedNames, exposedToolName } from '../../src/upstreams/index.js';

describe('exposed tool names', () => {
  it('keeps valid short names readable and unchanged', () => {
    expect(exposedToolName('github', 'create_pull_request')).toBe('github__create_pull_request');
  });

  it('always produces a valid model-API name, deterministically, with distinct results for distinct tools', () => {
    const long = 'a'.repeat(120);
    const cases = [
      ['fs', 'read.file'],
      ['x', long],
      ['x', `${long}b`],
      ['playwright-browser-a', 'browser_take_screenshot_of_the_full_page_including_offscreen'],
      ['srv', 'ünïcödé tool/name'],
      ['srv', ''],
    ] as const;
    const names = cases.map(([s, t]) => exposedToolName(s, t));
    for (const n of names) expect(n).toMatch(EXPOSED_NAME);
    expect(new Set(names).size).toBe(names.length);
    expect(cases.map(([s, t]) => exposedToolName(s, t))).toEqual(names);
    expect(exposedToolName('x', long)).not.toBe(exposedToolName('x', `${long}b`));
  });

  it('never lets two tools of one server share a name, even when a plain name equals a shortened one', () => {
    const shortened = exposedToolName('s', 'a.b'); // s__a_b_XXXXXX
    const plainTwin = shortened.slice('s__'.length);
    const names = exposedNames('s', ['a.b', plainTwin, 'a_b']);
    expect(new Set(names.values()).size).toBe(3);
    for (const n of names.values()) expect(n).toMatch(EXPOSED_NAME);
  });
});

describe('SSRF address checks', () => {
  it('refuses loopback, link-local, private, CGNAT and mapped forms; allows public addresses', () => {
    for (const a of [
      '127.0.0.1',
      '169.254.169.254',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
    ])
      expect(isPublicAddress(a), a).toBe(false);
    for (const a of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111'])
      expect(isPublicAddress(a), a).toBe(true);
  });
});
