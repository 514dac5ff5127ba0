/**
 * Test helpers for the OAuth flow without a browser: a cookie-keeping walk through the authorization endpoint,
 * the consent API (as the console calls it) and the hand-over, ending at the client's redirect with a code.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Api } from '../helpers/api.js';

export const REDIRECT_URI = 'http://127.0.0.1:53682/callback';

export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Registers a public native client by RFC 7591 and returns its id. */
export async function registerClient(base: string, redirectUris = [REDIRECT_URI]): Promise<string> {
  const res = await fetch(`${base}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Flow test client',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${JSON.stringify(body)}`);
  return body.client_id;
}

/** A browser's cookie jar, enough for one origin. */
export class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
  }
  header = () => [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
}

export interface AuthorizeOptions {
  clientId: string;
  challenge?: string;
  redirectUri?: string;
  resource?: string;
  scope?: string;
  approve?: boolean;
  restriction?: { skills: string[] } | null;
  /** The server's PUBLIC_URL, when it has one: its absolute URLs are followed at `base` instead. */
  publicUrl?: string;
}

/**
 * Runs the front channel as a browser would and returns the final redirect (to the client's redirect URI) or the
 * response that stopped it.
 */
export async function authorize(
  base: string,
  session: Api,
  o: AuthorizeOptions,
): Promise<{ location: URL | null; stopped?: Response }> {
  const jar = new Jar();
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: o.clientId,
    redirect_uri: o.redirectUri ?? REDIRECT_URI,
    scope: o.scope ?? 'mcp offline_access',
    state: 'st',
    resource: o.resource ?? `${o.publicUrl ?? base}/mcp`,
    ...(o.challenge ? { code_challenge: o.challenge, code_challenge_method: 'S256' } : {}),
  });
  let url = `${base}/oauth/authorize?${params}`;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(res);
    const to = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !to) return { location: null, stopped: res };
    let next = new URL(to, url);
    if (o.publicUrl && next.href.startsWith(o.publicUrl))
      next = new URL(next.href.slice(o.publicUrl.length), base);
    if (!next.href.startsWith(base)) return { location: next };
    const consent = /^\/authorize\/([\w-]+)$/.exec(next.pathname);
    if (consent) {
      const decided = await session.post(`/api/v1/oauth/authorizations/${consent[1]}`, {
        approve: o.approve ?? true,
        restriction: o.restriction ?? null,
      });
      if (decided.status !== 200) throw new Error(`decision failed: ${decided.status} ${decided.text}`);
      url = decided.body.redirect_to.replace(o.publicUrl ?? base, base);
      continue;
    }
    url = next.href;
  }
  throw new Error('too many redirects');
}

/** Posts to the token endpoint as a public client. */
export async function tokenRequest(base: string, form: Record<string, string>) {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** Exchanges the code of an authorization's final redirect (public client, PKCE). */
export function exchangeCode(base: string, location: URL | null, verifier: string, clientId: string) {
  return tokenRequest(base, {
    grant_type: 'authorization_code',
    code: location?.searchParams.get('code') ?? '',
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
    client_id: clientId,
  });
}

/** An MCP initialize request with a bearer token, as a client's first request. */
export function mcpInitialize(url: string, token: string, init: RequestInit = {}) {
  return fetch(url, {
    method: 'POST',
    ...init,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    }),
  });
}
