import type { MiddlewareHandler } from 'hono';

/**
 * The headers every response carries, written out once so that answers served without Hono (the `/mcp` fast path)
 * carry exactly the same set. The values are those of `hono/secure-headers` with a same-origin policy for the
 * console's content.
 */
export const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  [
    'Content-Security-Policy',
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
      "connect-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
  ],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/** Adds the security headers a response lacks (a route's own, such as a skill file's sandboxing CSP, win). */
export function addSecurityHeaders(headers: Headers): void {
  for (const [name, value] of SECURITY_HEADERS) if (!headers.has(name)) headers.set(name, value);
}

/** The middleware form of `addSecurityHeaders`, for every route of the app. */
export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  addSecurityHeaders(c.res.headers);
};
