import { randomUUID } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from '../observability/index.js';
import { requestIdFrom, type AccessLog } from './access-log.js';
import type { Authenticator } from '../accounts/index.js';
import { authorize, scopeFor, type Action } from '../authz/index.js';
import { errorResponse } from './errors.js';
import type { AppEnv } from './types.js';

/**
 * Request id, per-request logger, client IP, access log line and HTTP metrics. The access line is the one `info`
 * line of a request: it names the acting user and carries the tool call a route reported with
 * `c.set('logDetail', …)`.
 */
export function requestContext(
  logger: Logger,
  access: AccessLog,
  trustProxy: boolean,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFrom(c.req.header('x-request-id'), randomUUID);
    c.set('requestId', requestId);
    c.set('log', logger.child({ req_id: requestId }));
    c.set('clientIp', clientIp(c, trustProxy));
    c.header('X-Request-Id', requestId);
    await next();
    const finish = () =>
      access({
        requestId,
        method: c.req.method,
        path: c.req.path,
        route: c.req.routePath || 'unmatched',
        status: c.res.status,
        started,
        principal: c.get('principal'),
        detail: c.get('logDetail'),
      });
    const answered = c.get('answered');
    if (answered) void answered.then(finish);
    else finish();
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

/** What each route guard declares, so the OpenAPI document and the route table can say what a route needs. */
const declarations = new WeakMap<MiddlewareHandler<AppEnv>, Action | 'public'>();
/** The permission a route's middleware declares (`'public'`, an action), or undefined for other middleware. */
export const declaredPermission = (middleware: unknown): Action | 'public' | undefined =>
  declarations.get(middleware as MiddlewareHandler<AppEnv>);

/** Declares a route open to anyone (sign-up, log-in, refresh): the route checks its own proof, if any. */
export const publicRoute: MiddlewareHandler<AppEnv> = async (_c, next) => {
  await next();
};
declarations.set(publicRoute, 'public');

/** For a protected resource with OAuth metadata (the MCP endpoint): its RFC 8707 URI and RFC 9728 metadata URL. */
export type ResourceOf = (c: Context<AppEnv>) => { resource: string; metadataUrl: string };

/**
 * The guard of every authenticated route, declaring the action it performs (`authz/`). 401 (with a
 * `WWW-Authenticate` challenge) unless the request carries a valid credential; 403 `insufficient_scope` when an
 * API key lacks the permission the action's routes need (`scopeFor`: `api` = can_manage, `mcp` = can_use_mcp,
 * `assistants` = can_call_assistant; console sessions hold all three); 403 `forbidden` when the policy refuses
 * the actor (e.g. admin-only actions: an admin's key acts as admin only with `can_admin`). With `resourceOf`
 * (the MCP endpoint), OAuth access tokens must be bound to that resource and every challenge names the resource
 * metadata (RFC 9728 §5.1), which is how an MCP client discovers where to authorize.
 */
/** `requirePermission` for one authenticator, as a room's routes apply it per route: `guard('skills.read')`. */
export type PermissionGuard = (action: Action) => MiddlewareHandler<AppEnv>;

export function requirePermission(
  auth: Authenticator,
  action: Action,
  resourceOf?: ResourceOf,
): MiddlewareHandler<AppEnv> {
  const scope = scopeFor(action);
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const target = resourceOf?.(c);
    const result = await auth.resolve(c.req.header('authorization'), scope, target?.resource);
    if ('failure' in result) {
      const insufficient = result.failure === 'insufficient_scope';
      const metadata = target ? `, resource_metadata="${target.metadataUrl}"` : '';
      const challenge = insufficient
        ? `Bearer realm="skillport", error="insufficient_scope", scope="${scope}"${metadata}`
        : result.failure === 'missing'
          ? `Bearer realm="skillport"${metadata}`
          : `Bearer realm="skillport", error="invalid_token"${metadata}`;
      c.header('WWW-Authenticate', challenge);
      return insufficient
        ? errorResponse(c, 403, 'insufficient_scope', `This token lacks the "${scope}" scope`)
        : errorResponse(c, 401, 'unauthorized', 'A valid bearer token is required');
    }
    c.set('principal', result.principal);
    authorize(result.principal, action);
    await next();
  };
  declarations.set(middleware, action);
  return middleware;
}

/** JSON media types as Hono's validator and zod-openapi accept them: any case, `+json` suffixes. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Caps every body that will be parsed as JSON (by Content-Length and while streaming). Matching the media type
 * the way the validators do matters: `Application/JSON` or `application/vnd.api+json` is parsed as JSON too,
 * so a case-sensitive prefix test would let such bodies through without a limit.
 */
export function jsonBodyLimit(maxSize: number): MiddlewareHandler<AppEnv> {
  const tooLarge = (c: Context<AppEnv>) =>
    errorResponse(c, 413, 'payload_too_large', 'Request body too large');
  const limit = bodyLimit({ maxSize, onError: tooLarge });
  return async (c, next) => {
    const mediaType = (c.req.header('content-type') ?? '').split(';')[0]!.trim();
    if (!JSON_MEDIA_TYPE.test(mediaType) || c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    // A declared length (Node's parser reads no more) decides, as it does inside `bodyLimit`; asking `bodyLimit`
    // first would build the web stream of the body (`c.req.raw.body`), which loses @hono/node-server's direct
    // read of the body for `c.req.json()`: about 0.2 ms a request on Node 20.
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined)
      return parseInt(length, 10) > maxSize ? tooLarge(c) : next();
    return limit(c, next);
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
