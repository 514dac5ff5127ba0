import { randomUUID } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Authenticator } from '../accounts/authenticate.js';
import type { TokenScope } from '../shared/principal.js';
import { errorResponse } from './errors.js';
import type { AppEnv } from './types.js';

/**
 * Request id, per-request logger, client IP, access log line and HTTP metrics. The access line is the one `info`
 * line of a request: it names the acting user and carries what a route added with `c.set('logDetail', …)`.
 */
export function requestContext(
  logger: Logger,
  metrics: Metrics,
  trustProxy: boolean,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && /^[\w-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ req_id: requestId });
    c.set('requestId', requestId);
    c.set('log', log);
    c.set('clientIp', clientIp(c, trustProxy));
    c.header('X-Request-Id', requestId);
    await next();
    const route = c.req.routePath || 'unmatched';
    const seconds = (performance.now() - started) / 1000;
    const status = c.res.status;
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(status) });
    metrics.httpDuration.observe({ method: c.req.method, route }, seconds);
    const principal = c.get('principal');
    if (principal) metrics.credentialUses.inc({ via: principal.via });
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        route,
        status,
        ms: Math.round(seconds * 1000),
        ...(principal ? { user: principal.userId } : {}),
        ...c.get('logDetail'),
      },
      'request',
    );
  };
}

function clientIp(c: Parameters<MiddlewareHandler<AppEnv>>[0], trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null; // not served by @hono/node-server (e.g. app.request in tests)
  }
}

/** The scope each `requireAuth` middleware demands, so the OpenAPI document can say which routes need a token. */
const authScopes = new WeakMap<MiddlewareHandler<AppEnv>, TokenScope>();
export const requiredScope = (middleware: unknown): TokenScope | undefined =>
  authScopes.get(middleware as MiddlewareHandler<AppEnv>);

/**
 * Rejects the request with 401 (and a `WWW-Authenticate` challenge) unless it carries a valid credential, and
 * with 403 when an API key lacks the permission: `api` = can_manage, `mcp` = can_use_mcp, `assistants` =
 * can_call_assistant. Console sessions hold all three.
 */
export function requireAuth(auth: Authenticator, scope: TokenScope): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const result = await auth.resolve(c.req.header('authorization'), scope);
    if ('failure' in result) {
      const insufficient = result.failure === 'insufficient_scope';
      const challenge = insufficient
        ? `Bearer realm="skillport", error="insufficient_scope", scope="${scope}"`
        : result.failure === 'missing'
          ? 'Bearer realm="skillport"'
          : 'Bearer realm="skillport", error="invalid_token"';
      c.header('WWW-Authenticate', challenge);
      return insufficient
        ? errorResponse(c, 403, 'insufficient_scope', `This token lacks the "${scope}" scope`)
        : errorResponse(c, 401, 'unauthorized', 'A valid bearer token is required');
    }
    c.set('principal', result.principal);
    await next();
  };
  authScopes.set(middleware, scope);
  return middleware;
}

/**
 * Admins only. `principal.isAdmin` is the credential's admin power, not the user's flag alone: an admin's API key
 * passes only if it was given `can_admin` (see `Principal.isAdmin`).
 */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get('principal').isAdmin) return errorResponse(c, 403, 'forbidden', 'Administrators only');
  await next();
};

/** JSON media types as Hono's validator and zod-openapi accept them: any case, `+json` suffixes. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Caps every body that will be parsed as JSON (by Content-Length and while streaming). Matching the media type
 * the way the validators do matters: `Application/JSON` or `application/vnd.api+json` is parsed as JSON too,
 * so a case-sensitive prefix test would let such bodies through without a limit.
 */
export function jsonBodyLimit(maxSize: number): MiddlewareHandler<AppEnv> {
  const limit = bodyLimit({
    maxSize,
    onError: (c) => errorResponse(c, 413, 'payload_too_large', 'Request body too large'),
  });
  return async (c, next) => {
    const mediaType = (c.req.header('content-type') ?? '').split(';')[0]!.trim();
    return JSON_MEDIA_TYPE.test(mediaType) ? limit(c, next) : next();
  };
}

const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
const isUtf8Encoded = (part: string) =>
  [...part.matchAll(PERCENT_RUN)].every(([run]) => {
    try {
      decodeURIComponent(run);
      return true;
    } catch {
      return false;
    }
  });

/**
 * Refuses a URL whose percent-encoded bytes are not UTF-8 (an encoded lone surrogate such as `%ED%A0%80`, a
 * stray `%FF`): the router would otherwise keep them as literal text and look that up. 400 `invalid_input`
 * naming the query parameter, or the path.
 */
export const wellFormedUrl: MiddlewareHandler<AppEnv> = async (c, next) => {
  const url = c.req.url;
  const queryAt = url.indexOf('?');
  const pathname = new URL(url).pathname;
  const bad = !isUtf8Encoded(pathname)
    ? '(path)'
    : queryAt < 0
      ? undefined
      : url
          .slice(queryAt + 1)
          .split('&')
          .find((pair) => !isUtf8Encoded(pair))
          ?.split('=')[0];
  if (bad === undefined) return next();
  const field = isUtf8Encoded(bad) ? decodeURIComponent(bad) : bad;
  const message = 'is not valid percent-encoded UTF-8';
  return errorResponse(c, 400, 'invalid_input', `Invalid request: ${field} ${message}`, {
    fields: [{ path: field, in: field === '(path)' ? 'path' : 'query', message }],
  });
};
