import { createMcpHandler, type McpServer, type McpHttpHandler } from '@modelcontextprotocol/server';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { randomUUID } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Hono } from 'hono';
import type { Authenticator, ApiTokens } from '../accounts/index.js';
import { may, scopeFor } from '../authz/index.js';
import type { Config } from '../config/index.js';
import {
  addSecurityHeaders,
  dnsRebindingGuard,
  errorBody,
  errorResponse,
  hostAndOriginAllowed,
  requestIdFrom,
  requirePermission,
  type AccessLog,
  type AppEnv,
  type ToolCallDetail,
} from '../http/index.js';
import type { Logger } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';
import type { SkillViewChange, SkillViews, ToolContext, ToolRegistry, ToolsChange } from '../tools/index.js';
import { mcpResource, mcpResourceOf, publicBase } from '../oauth/index.js';
import { buildMcpServer, extensionCache, refreshTools } from './server.js';

export interface McpHttpDeps {
  config: Config;
  auth: Authenticator;
  apiTokens: ApiTokens;
  logger: Logger;
  /** The access-log line and HTTP metrics of the requests the fast path serves. */
  access: AccessLog;
  version: string;
  /** Every caller's tools. */
  tools: ToolRegistry;
  /** Every caller's view of the skill library (the Skills-over-MCP resources). */
  skillViews: SkillViews;
  /** With `serve --workers`: reaches legacy SSE sessions held by the other worker processes. */
  sseRelay?: SseRelay;
}

/**
 * Legacy SSE sessions across the processes of one server (`serve --workers`): a stream lives in the process that
 * accepted `GET /sse`, while each `POST /messages` may land on any of them. A process that does not hold the
 * session hands the (authenticated, parsed) message to the one that does.
 */
export interface SseRelay {
  /** This process now holds `sessionId`. */
  opened(sessionId: string): void;
  /** This process no longer holds `sessionId`. */
  closed(sessionId: string): void;
  /** Delivers a message to the process holding the session: 202 delivered, 404 no such session of `userId`, 400 refused. */
  forward(sessionId: string, userId: string, message: unknown): Promise<number>;
  /** How this process answers messages the others forward to it (same statuses as `forward`). */
  serve(deliver: (sessionId: string, userId: string, message: unknown) => Promise<number>): void;
}

/** The v1 SDK's cap on one `POST /messages` body (its `MAXIMUM_MESSAGE_SIZE`, 4 MB), kept for relayed ones. */
const MAX_SSE_MESSAGE_BYTES = 4 * 1024 * 1024;
/** The largest `POST /mcp` body the fast path reads itself (the SDK handler's own default cap, 4 MiB). */
const MAX_DIRECT_BODY_BYTES = 4 * 1024 * 1024;

/** The MCP endpoints, mounted on the app, and the fast path in front of it. */
export interface McpHttp {
  /**
   * Serves a plain authenticated `POST /mcp` (a JSON body with a Content-Length, no Origin header: not a browser)
   * without the app's routing and middleware, with the same checks, headers, access-log line and metrics.
   * Returns null, synchronously or once the credential is checked, for any request it does not take: the app
   * serves those (errors, challenges, CORS, GET/DELETE, browsers), with the body still unread.
   */
  direct(request: Request, env: HttpBindings): Promise<Response | null> | null;
  close(): Promise<void>;
}

/** What the HTTP edge hands the per-request server factory, through the SDK's `authInfo.extra`. */
interface Caller {
  principal: Principal;
  /** Absent for a legacy SSE session, whose instance outlives the request that opened it. */
  requestId?: string;
  log: Logger;
  /** Folds a tool call into the request's access-log line (absent for SSE sessions, see `requestId`). */
  report?: ToolContext['report'];
}

/** How many users' MCP handlers stay warm; the least recently used is closed beyond that. */
const MAX_CACHED_HANDLERS = 1000;
/** Legacy SSE sessions re-check their credentials this often even without a local revocation event. */
const SSE_RECHECK_MS = 30_000;
const MAX_SSE_SESSIONS_PER_USER = 16;

interface TrackedStream {
  userId: string;
  authorization: string;
  /** The MCP resource the credential was presented for (OAuth tokens are bound to it). */
  resource: string;
  close(): Promise<void>;
}

interface SseSession {
  transport: SSEServerTransport;
  server: McpServer;
  userId: string;
  authorization: string;
  /** The MCP resource the credential was presented for (OAuth tokens are bound to it). */
  resource: string;
  close(): Promise<void>;
}

/**
 * Mounts the MCP endpoints: `/mcp` (Streamable HTTP, 2026-07-28 and the 2025 stateless fallback) and the
 * legacy `/sse` + `/messages` pair. The caller is authenticated on every request and the server instance is
 * built for that user alone: nothing in an instance can reach another user's library.
 */
export function mountMcp(app: Hono<AppEnv>, deps: McpHttpDeps): McpHttp {
  const guard = dnsRebindingGuard(deps.config);
  // OAuth access tokens must be bound to this MCP endpoint; challenges point clients at its resource metadata.
  const resourceOf = mcpResourceOf(deps.config.PUBLIC_URL);
  const authed = requirePermission(deps.auth, 'tools.use', resourceOf);
  const extensionFor = extensionCache(deps.logger);
  /** One server instance for one caller, from the tools and library view built once for that caller's view. */
  const serverFor = async ({ principal, requestId, log, report }: Caller) =>
    buildMcpServer({
      registry: deps.tools,
      tools: await deps.tools.toolsFor(principal),
      principal,
      logger: log,
      requestId,
      report,
      version: deps.version,
      skills: extensionFor(deps.skillViews.libraryFor(principal)),
    });

  // One handler per user, so that list-changed notifications reach only that user's subscription streams.
  const handlers = new Map<string, McpHttpHandler>();
  const handlerFor = (userId: string): McpHttpHandler => {
    let h = handlers.get(userId);
    if (h) {
      handlers.delete(userId); // re-insert: Map order is the LRU order
    } else {
      h = createMcpHandler(({ authInfo }) => serverFor(authInfo!.extra as unknown as Caller), {
        onerror: (err) => deps.logger.debug({ err: err.message, user: userId }, 'mcp request rejected'),
      });
      if (handlers.size >= MAX_CACHED_HANDLERS) {
        const [oldestId, oldest] = handlers.entries().next().value as [string, McpHttpHandler];
        handlers.delete(oldestId);
        void oldest.close();
      }
    }
    handlers.set(userId, h);
    return h;
  };

  /**
   * Serves one `/mcp` request of an authenticated caller (either entry: the app's route or `direct`). `ended`
   * settles once the answer is complete: at once for a JSON answer, when the stream closes for an SSE one (a 2025
   * call answered as a stream carries its tool call in it, so its access line can only be written then).
   */
  const serveMcp = async (
    request: Request,
    caller: Caller,
    authorization: string,
    resource: string,
    parsedBody?: unknown,
  ): Promise<{ response: Response; ended: Promise<void> }> => {
    const { principal } = caller;
    const response = await handlerFor(principal.userId).fetch(request, {
      authInfo: {
        token: 'redacted', // the handler never needs the credential itself
        clientId: principal.tokenId ?? principal.userId,
        scopes: [...principal.scopes],
        extra: caller as unknown as Record<string, unknown>,
      },
      ...(parsedBody === undefined ? {} : { parsedBody }),
    });
    // Headers first: reading `body` turns @hono/node-server's lightweight response into a full one.
    if (!response.headers.get('content-type')?.startsWith('text/event-stream') || !response.body)
      return { response, ended: Promise.resolve() };
    // A streamed answer (a subscriptions/listen stream, or a call upgraded to SSE) outlives this request's
    // credential check: track it so that revoking its token or disabling its user ends it, as for /sse.
    return trackStream(response, principal.userId, authorization, resource);
  };

  app.all('/mcp', guard, authed, async (c) => {
    const { response, ended } = await serveMcp(
      c.req.raw,
      {
        principal: c.get('principal'),
        requestId: c.get('requestId'),
        log: c.get('log'),
        report: ({ tool, ms, outcome }) => c.set('logDetail', { tool, tool_ms: ms, outcome }),
      },
      c.req.header('authorization')!,
      resourceOf(c).resource,
    );
    c.set('answered', ended);
    return response;
  });

  const hostAllowed = hostAndOriginAllowed(deps.config);
  const scope = scopeFor('tools.use');
  const direct: McpHttp['direct'] = (request, { incoming }) => {
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

  const serveDirect = async (
    request: Request,
    incoming: HttpBindings['incoming'],
    authorization: string,
  ): Promise<Response | null> => {
    const started = performance.now();
    if (!hostAllowed(request)) return null;
    const resource = mcpResource(publicBase(deps.config.PUBLIC_URL, request.url));
    const resolved = await deps.auth.resolve(authorization, scope, resource);
    if (!('principal' in resolved) || !may(resolved.principal, 'tools.use')) return null;
    const principal = resolved.principal;
    const requestId = requestIdFrom(request.headers.get('x-request-id'), randomUUID);
    const log = deps.logger.child({ req_id: requestId });
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
          ? await serveMcp(
              new Request(request.url, {
                method: 'POST',
                headers: request.headers,
                body: new Uint8Array(body),
              }),
              caller,
              authorization,
              resource,
            )
          : await serveMcp(request, caller, authorization, resource, parsed);
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
      deps.access({
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

  /** Open `/mcp` SSE responses, each with the credentials it was opened with. */
  const streams = new Set<TrackedStream>();
  const trackStream = (
    response: Response,
    userId: string,
    authorization: string,
    resource: string,
  ): { response: Response; ended: Promise<void> } => {
    const reader = response.body!.getReader();
    let entry: TrackedStream;
    let markEnded!: () => void;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    const finish = () => {
      streams.delete(entry);
      markEnded();
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        entry = {
          userId,
          authorization,
          resource,
          close: async () => {
            finish();
            // Cancelling the SDK's side tears the subscription down there; closing ours ends the response.
            await reader.cancel('credentials no longer valid').catch(() => undefined);
            try {
              controller.close();
            } catch {
              // already closed or errored
            }
          },
        };
        streams.add(entry);
      },
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            finish();
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          finish();
          controller.error(err);
        }
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    });
    return { response: new Response(body, { status: response.status, headers: response.headers }), ended };
  };

  // ---- legacy HTTP+SSE (2024-11-05 transport) ----
  const sessions = new Map<string, SseSession>();

  app.get('/sse', guard, authed, async (c) => {
    const principal = c.get('principal');
    const open = [...sessions.values()].filter((s) => s.userId === principal.userId).length;
    if (open >= MAX_SSE_SESSIONS_PER_USER) {
      return errorResponse(
        c,
        429,
        'too_many_sessions',
        `At most ${MAX_SSE_SESSIONS_PER_USER} SSE sessions per user`,
      );
    }
    // The 2024-11-05 transport comes from the v1 SDK, loaded with the first legacy session rather than at start-up.
    const { SSEServerTransport } = await import('@modelcontextprotocol/sdk/server/sse.js');
    const transport = new SSEServerTransport('/messages', c.env.outgoing);
    const server = await serverFor({ principal, log: c.get('log') });
    const session: SseSession = {
      transport,
      server,
      userId: principal.userId,
      authorization: c.req.header('authorization')!,
      resource: resourceOf(c).resource,
      close: () => server.close(),
    };
    sessions.set(transport.sessionId, session);
    deps.sseRelay?.opened(transport.sessionId);
    transport.onclose = () => dropSession(transport.sessionId);
    c.env.outgoing.on('close', () => {
      dropSession(transport.sessionId);
      void server.close();
    });
    await server.connect(transport);
    deps.logger.info({ user: principal.userId, session: transport.sessionId }, 'sse session opened');
    return RESPONSE_ALREADY_SENT;
  });

  const dropSession = (id: string) => {
    if (sessions.delete(id)) deps.sseRelay?.closed(id);
  };

  app.post('/messages', guard, authed, async (c) => {
    const sessionId = c.req.query('sessionId') ?? '';
    const userId = c.get('principal').userId;
    const session = sessions.get(sessionId);
    if (!session && deps.sseRelay && sessionId) return relayMessage(c, deps.sseRelay, sessionId, userId);
    // Another user's session id is answered exactly like an unknown one.
    if (!session || session.userId !== userId) {
      return errorResponse(c, 404, 'not_found', 'Unknown SSE session');
    }
    await session.transport.handlePostMessage(c.env.incoming, c.env.outgoing);
    return RESPONSE_ALREADY_SENT;
  });
  // Messages another worker received for a session of this one (the same user check as above).
  deps.sseRelay?.serve(async (sessionId, userId, message) => {
    const session = sessions.get(sessionId);
    if (!session || session.userId !== userId) return 404;
    try {
      await session.transport.handleMessage(message as never);
      return 202;
    } catch {
      return 400;
    }
  });

  /** Closes the streams (SSE sessions, `/mcp` streams) of `userId` whose opening credentials no longer authenticate. */
  const recheck = async (userId?: string) => {
    // A user's sessions and streams usually share one credential: each (user, credential) is resolved once a pass.
    const verdicts = new Map<string, Promise<boolean>>();
    const stillValid = (s: { userId: string; authorization: string; resource: string }): Promise<boolean> => {
      const key = `${s.userId}\0${s.authorization}`;
      let verdict = verdicts.get(key);
      if (!verdict) {
        verdict = deps.auth
          .resolve(s.authorization, 'mcp', s.resource)
          .then((result) => 'principal' in result && result.principal.userId === s.userId);
        verdicts.set(key, verdict);
      }
      return verdict;
    };
    for (const [id, s] of sessions) {
      if (userId && s.userId !== userId) continue;
      if (!(await stillValid(s))) {
        dropSession(id);
        deps.logger.info({ user: s.userId, session: id }, 'sse session closed: credentials no longer valid');
        await s.close().catch(() => undefined);
      }
    }
    for (const s of [...streams]) {
      if (userId && s.userId !== userId) continue;
      if (!(await stillValid(s))) {
        deps.logger.info({ user: s.userId }, 'mcp stream closed: credentials no longer valid');
        await s.close();
      }
    }
  };
  const onCredentials = ({ userId }: { userId: string }) => void recheck(userId);
  deps.apiTokens.events.on('credentials-changed', onCredentials);
  const timer = setInterval(() => void recheck(), SSE_RECHECK_MS);
  timer.unref();

  /** Relays a change to the affected users' clients: subscription streams (2026-07-28) and SSE sessions. */
  const relay = (userId: string | null, kind: 'tools' | 'resources') => {
    const affected = userId ? [handlers.get(userId)] : handlers.values();
    for (const h of affected) {
      if (kind === 'tools') h?.notify.toolsChanged();
      else h?.notify.resourcesChanged();
    }
    for (const s of sessions.values()) {
      if (userId && s.userId !== userId) continue;
      // The SSE server instance is long-lived: its tools are brought up to date (which tells its client), and a
      // resource change is told to its client directly.
      if (kind === 'tools')
        void refreshTools(s.server).catch((err: Error) =>
          deps.logger.warn({ err: err.message, user: s.userId }, 'sse session tools not refreshed'),
        );
      else
        void s.transport
          .send({ jsonrpc: '2.0', method: 'notifications/resources/list_changed' })
          .catch(() => undefined);
    }
  };
  // Both arrive after the caches they concern were dropped: a client re-reading at once sees the change.
  const onLibraryChange = ({ userId }: SkillViewChange) => relay(userId, 'resources');
  const onToolsChange = ({ userId }: ToolsChange) => relay(userId, 'tools');
  deps.skillViews.events.on('change', onLibraryChange);
  deps.tools.events.on('change', onToolsChange);

  return {
    direct,
    async close() {
      clearInterval(timer);
      deps.apiTokens.events.off('credentials-changed', onCredentials);
      deps.skillViews.events.off('change', onLibraryChange);
      deps.tools.events.off('change', onToolsChange);
      await Promise.all([...sessions.values()].map((s) => s.close().catch(() => undefined)));
      for (const id of [...sessions.keys()]) dropSession(id);
      await Promise.all([...streams].map((s) => s.close()));
      await Promise.all([...handlers.values()].map((h) => h.close()));
      handlers.clear();
    },
  };
}

/**
 * A `POST /messages` for a session another worker holds: the body is read and checked here as the SDK's transport
 * would (JSON, at most 4 MB), and the message handed over; the answer is the transport's (202 `Accepted`).
 */
async function relayMessage(c: Context<AppEnv>, relay: SseRelay, sessionId: string, userId: string) {
  const mediaType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json') return c.text(`Unsupported content-type: ${mediaType}`, 400);
  const body = await readLimited(c.req.raw, MAX_SSE_MESSAGE_BYTES);
  if (body === null) return errorResponse(c, 413, 'payload_too_large', 'Request body too large');
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return c.text('Invalid message', 400);
  }
  const status = await relay.forward(sessionId, userId, message);
  if (status === 202) return c.text('Accepted', 202);
  if (status === 404) return errorResponse(c, 404, 'not_found', 'Unknown SSE session');
  if (status === 400) return c.text('Invalid message', 400);
  return errorResponse(c, 503, 'unavailable', 'The SSE session could not be reached; try again');
}

/** The body as text, or null once it exceeds `limit` bytes (reading stops there). */
async function readLimited(request: Request, limit: number): Promise<string | null> {
  if (Number(request.headers.get('content-length') ?? 0) > limit) return null;
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
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
