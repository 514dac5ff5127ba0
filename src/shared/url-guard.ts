import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { badRequest } from './errors.js';

/**
 * The SSRF guard for URLs users give the server to call (model providers' base URLs; `isPublicAddress` is also
 * the address rule of upstream MCP servers' URLs and OAuth clients' metadata documents): only http(s), and only
 * hosts whose every address is public. Loopback, private, link-local (cloud metadata), CGNAT, multicast and
 * reserved ranges are refused. Admins may configure local endpoints (`allowPrivate`).
 *
 * `guardedFetch` re-checks the host on every request, so a name that later resolves to a private address
 * (DNS rebinding) is refused then too; a window between the check and the connection remains.
 */
// Two lists: Node matches an IPv4 address against IPv4-mapped IPv6 subnets too, so one list with ::ffff:0:0/96
// would refuse every IPv4 address.
const blockedV4 = new BlockList();
const blockedV6 = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blockedV4.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 127],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  blockedV6.addSubnet(net, bits, 'ipv6');

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !blockedV4.check(address, 'ipv4');
  if (family !== 6) return false;
  // An IPv4-mapped address (::ffff:a.b.c.d, also written ::ffff:XXXX:XXXX) is judged as its IPv4 address.
  const mapped = /^::ffff:(.+)$/i.exec(address)?.[1];
  if (mapped) return isIP(mapped) === 4 ? isPublicAddress(mapped) : isPublicAddress(hexToV4(mapped));
  return !blockedV6.check(address, 'ipv6');
}

function hexToV4(hex: string): string {
  const [hi, lo] = hex.split(':').map((h) => parseInt(h, 16));
  if (hi === undefined || lo === undefined || Number.isNaN(hi) || Number.isNaN(lo)) return '';
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/**
 * Every address `host` (a URL's hostname: a name, an IPv4 address or a bracketed IPv6 one) stands for: itself when
 * it is an address, else what DNS answers. Rejects when the name does not resolve.
 */
export async function addressesOf(host: string): Promise<Array<{ address: string; family: number }>> {
  const bare = host.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  return family ? [{ address: bare, family }] : lookup(bare, { all: true });
}

/** Checks a user-given URL; throws `bad_request` naming `field` when it may not be called. */
export async function assertCallableUrl(raw: string, field: string, allowPrivate: boolean): Promise<URL> {
  const refuse = (why: string) => badRequest(`${field} ${why}`, { fields: [{ path: field, message: why }] });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('must be an http(s) URL');
  if (url.username || url.password) throw refuse('must not carry credentials');
  if (allowPrivate) return url;
  const addresses = await addressesOf(url.hostname).then(
    (found) => found.map((a) => a.address),
    () => [] as string[],
  );
  if (addresses.length === 0) throw refuse('has a host name that does not resolve');
  if (!addresses.every(isPublicAddress)) throw refuse('points to a private or local address');
  return url;
}

/** A `fetch` that applies `assertCallableUrl` to every request it makes. */
export function guardedFetch(allowPrivate: boolean): typeof fetch {
  if (allowPrivate) return fetch;
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    await assertCallableUrl(url, 'base_url', false);
    return fetch(input, init);
  };
}
