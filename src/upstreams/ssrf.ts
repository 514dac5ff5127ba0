import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { addressesOf, isPublicAddress } from '../shared/url-guard.js';
import { Readable } from 'node:stream';
import { badRequest } from '../shared/errors.js';

/** Where user-given upstream URLs may point. */
export interface UrlPolicy {
  /** Loopback, link-local, private, CGNAT and unspecified addresses allowed (an admin's choice). */
  allowPrivate: boolean;
  /** Plain `http:` allowed (an admin's choice); otherwise only `https:`. */
  allowHttp: boolean;
}

/** Checks a URL's form against the policy (scheme, no credentials); the address is checked at connect time. */
export function checkUrlForm(raw: string, policy: UrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest('The server URL is not a valid URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    throw badRequest(
      policy.allowHttp ? 'The server URL must use http or https' : 'The server URL must use https',
    );
  }
  if (url.username || url.password) throw badRequest('Put credentials in headers, not in the URL');
  return url;
}

/** Resolves `host` and refuses it when any of its addresses is non-public (and the policy does not allow it). */
export async function resolveAllowed(
  host: string,
  policy: UrlPolicy,
): Promise<Array<{ address: string; family: number }>> {
  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = await addressesOf(host);
  } catch {
    throw badRequest(`The server's host name ${JSON.stringify(host)} does not resolve`);
  }
  if (!policy.allowPrivate && addresses.some((a) => !isPublicAddress(a.address))) {
    throw badRequest(
      'The server URL points to a loopback, link-local or private address; an administrator must allow private networks',
    );
  }
  return addresses;
}

/** Checks a URL completely: form, then every address its host resolves to. */
export async function checkUrl(raw: string, policy: UrlPolicy): Promise<URL> {
  const url = checkUrlForm(raw, policy);
  await resolveAllowed(url.hostname, policy);
  return url;
}

/**
 * A `fetch` for the SDK's HTTP transports that connects only to the address it checked (resolve once, check,
 * pin: no DNS rebinding between check and connect) and never follows a redirect.
 */
export function guardedFetch(policy: UrlPolicy): typeof fetch {
  return async (input, init) => {
    const request = plainRequest(input, init) ?? (await bufferedRequest(input, init));
    const url = checkUrlForm(request.url, policy);
    const [pinned] = await resolveAllowed(url.hostname, policy);
    const pinnedLookup: LookupFunction = (_host, opts, cb) => {
      if ((opts as { all?: boolean }).all) (cb as never as (e: null, a: unknown[]) => void)(null, [pinned]);
      else cb(null, pinned!.address, pinned!.family);
    };
    const { body, headers } = request;
    const client = url.protocol === 'https:' ? https : http;
    const send = (retry: boolean) =>
      new Promise<Response>((resolve, reject) => {
        const req = client.request(
          url,
          {
            method: request.method,
            headers,
            lookup: pinnedLookup,
            signal: request.signal,
            // The retry goes on a new connection: other pooled sockets may be stale too.
            ...(retry ? {} : { agent: false }),
          },
          (res) => {
            const out = new Headers();
            for (const [k, v] of Object.entries(res.headers))
              for (const one of [v ?? []].flat()) out.append(k, one);
            const status = res.statusCode ?? 502;
            const stream =
              status === 204 || status === 304 || request.method === 'HEAD'
                ? null
                : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
            if (!stream) res.resume();
            resolve(new Response(stream, { status, statusText: res.statusMessage, headers: out }));
          },
        );
        req.on('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive socket the server closed meanwhile (it restarted): the request never reached it, so it is
          // sent again once on a fresh connection (the retry Node's http documentation describes for reusedSocket).
          if (retry && req.reusedSocket && err.code === 'ECONNRESET') send(false).then(resolve, reject);
          else reject(err);
        });
        req.end(body);
      });
    return send(true);
  };
}

/** What `guardedFetch` sends: the request with its body as bytes or text. */
interface OutgoingRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
  signal: AbortSignal | undefined;
}

/** The SDK's usual call (a URL and a text body): taken as it is, without building a `Request` per call. */
function plainRequest(input: Parameters<typeof fetch>[0], init?: RequestInit): OutgoingRequest | null {
  if (!(typeof input === 'string' || input instanceof URL)) return null;
  if (init?.body != null && typeof init.body !== 'string') return null;
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
  return {
    url: String(input),
    method: (init?.method ?? 'GET').toUpperCase(),
    headers,
    body: init?.body ?? undefined,
    signal: init?.signal ?? undefined,
  };
}

/** Anything else, through `Request` (body read into memory: MCP messages are small). */
async function bufferedRequest(
  input: Parameters<typeof fetch>[0],
  init?: RequestInit,
): Promise<OutgoingRequest> {
  const request = new Request(input, init);
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => (headers[k] = v));
  return {
    url: request.url,
    method: request.method,
    headers,
    body: request.body ? Buffer.from(await request.arrayBuffer()) : undefined,
    signal: request.signal,
  };
}
