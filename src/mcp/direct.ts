/**
 * The `POST /mcp` fast path: a plain authenticated call (a JSON body with a Content-Length, no Origin header: not
 * a browser) served before the app's routing and middleware, with the same checks, headers, access-log line and
 * metrics (issue 11). Anything else, or a credential that does not authenticate, falls through to the app, with
 * the body still unread.
 */
import { randomUUID } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { Authenticator } from '../accounts/index.js';
import { may, scopeFor } from '../authz/index.js';
import type { Config } from '../config/index.js';
import {
  addSecurityHeaders,
  errorBody,
  hostAndOriginAllowed,
  requestIdFrom,
  type AccessLog,
  type ToolCallDetail,
} from '../http/index.js';
import type { Logger } from '../observability/index.js';
import { mcpResource, publicBase } from '../oauth/index.js';
import type { Caller } from './caller.js';

/** The largest `POST /mcp` body the fast path reads itself (the SDK handler's own default cap, 4 MiB). */
const MAX_DIRECT_BODY_BYTES = 4 * 1024 * 1024;

/** Serves one `/mcp` request of an authenticated caller (see `mountMcp`); `ended` settles when the answer is complete. */
export type ServeMcp = (
  request: Request,
  caller: Caller,
  authorization: string,
  resource: string,
  parsedBody?: unknown,
) => Promise<{ response: Response; ended: Promise<void> }>;

export interface DirectPathOptions {
  config: Config;
  auth: Authenticator;
  logger: Logger;
  /** The access-log line and HTTP metrics of the requests the fast path serves. */
  access: AccessLog;
  serveMcp: ServeMcp;
}

/**
 * Returns null, synchronously or once the credential is checked, for any request it does not take: the app serves
 * those (errors, challenges, CORS, GET/DELETE, browsers).
 */
export type DirectPath = (request: Request, env: HttpBindings) => Promise<Response | null> | null;

export function createDirectPath(o: DirectPathOptions): DirectPath {
  const hostAllowed = hostAndOriginAllowed(o.config);
  const scope = scopeFor('tools.use');

  const serveDirect = async (
    request: Request,
    incoming: HttpBindings['incoming'],
    authorization: string,
  ): Promise<Response | null> => {
    const started = performance.now();
    if (!hostAllowed(request)) return null;
    const resource = mcpResource(publicBase(o.config.PUBLIC_URL, request.url));
    const resolved = await o.auth.resolve(authorization, scope, resource);
    if (!('principal' in resolved) || !may(resolved.principal, 'tools.use')) return null;
    const principal = resolved.principal;
    const requestId = requestIdFrom(request.headers.get('x-request-id'), randomUUID);
    const log = o.logger.child({ req_id: requestId });
    let detail: ToolCallDetail | undefined;
    const caller: Caller = {
      principal,
      requestId,
      log,
      report: ({ tool, ms, outcome }) => (detail = { tool, tool_ms: ms, outcome }),
    };
    let answer: { response: Response; ended: Promise<void> };
    try {
      const body = await readBody(incoming);
      const parsed = parseJson(body);
      // A body that is not JSON goes to the handler as it came, for the protocol's own parse error.
      answer =
        parsed === undefined
          ? await o.serveMcp(
              new Request(request.url, {
                method: 'POST',
                headers: request.headers,
                body: new Uint8Array(body),
              }),
              caller,
              authorization,
              resource,
            )
          : await o.serveMcp(request, caller, authorization, resource, parsed);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'mcp request failed');
      answer = {
        response: Response.json(errorBody('internal_error', 'Internal server error'), { status: 500 }),
        ended: Promise.resolve(),
      };
    }
    const { response, ended } = answer;
    addSecurityHeaders(response.headers);
    response.headers.set('X-Request-Id', requestId);
    void ended.then(() =>
      o.access({
        requestId,
        method: 'POST',
        path: '/mcp',
        route: '/mcp',
        status: response.status,
        started,
        principal,
        detail,
      }),
    );
    return response;
  };

  return (request, { incoming }) => {
    const headers = incoming.headers;
    const length = Number(headers['content-length']);
    if (
      incoming.method !== 'POST' ||
      incoming.url !== '/mcp' ||
      headers.origin !== undefined ||
      !(length <= MAX_DIRECT_BODY_BYTES) ||
      !headers['content-type']?.toLowerCase().startsWith('application/json') ||
      !headers.authorization
    )
      return null;
    return serveDirect(request, incoming, headers.authorization);
  };
}

/** A request body, whole (its length was checked against the cap before). */
async function readBody(incoming: HttpBindings['incoming']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The JSON value of `body`, or undefined when it is empty or not JSON. */
function parseJson(body: Buffer): unknown {
  try {
    return body.length ? (JSON.parse(body.toString('utf8')) as unknown) : undefined;
  } catch {
    return undefined;
  }
}
