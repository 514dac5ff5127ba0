/**
 * The MCP endpoints over HTTP: `/mcp` (Streamable HTTP, 2026-07-28 and the 2025 stateless fallback), its fast
 * path (direct.ts), and the legacy `/sse` + `/messages` pair (legacy-sse.ts). The caller is authenticated on every
 * request and the server instance is built for that user alone: nothing in an instance can reach another user's
 * library. Streams that outlive their request are closed when their credential stops authenticating, and list
 * changes are relayed to the affected users' clients.
 */
import type { HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Authenticator, ApiTokens } from '../accounts/index.js';
import type { Config } from '../config/index.js';
import { dnsRebindingGuard, requirePermission, type AccessLog, type AppEnv } from '../http/index.js';
import type { Logger } from '../observability/index.js';
import type { SkillViewChange, SkillViews, ToolRegistry, ToolsChange } from '../tools/index.js';
import { mcpResourceOf } from '../oauth/index.js';
import type { Caller, CredentialCheck } from './caller.js';
import { createDirectPath, type ServeMcp } from './direct.js';
import { mountLegacySse, type SseRelay } from './legacy-sse.js';
import { buildMcpServer, extensionCache } from './server.js';
import { TrackedStreams } from './streams.js';
import { UserHandlers } from './user-handlers.js';

export type { SseRelay } from './legacy-sse.js';

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

/** The MCP endpoints, mounted on the app, and the fast path in front of it. */
export interface McpHttp {
  /**
   * Serves a plain authenticated `POST /mcp` without the app's routing and middleware (direct.ts). Returns null,
   * synchronously or once the credential is checked, for any request it does not take: the app serves those.
   */
  direct(request: Request, env: HttpBindings): Promise<Response | null> | null;
  close(): Promise<void>;
}

/** Legacy SSE sessions and `/mcp` streams re-check their credentials this often even without a revocation event. */
const RECHECK_MS = 30_000;

/** Mounts the MCP endpoints on `app` (see the file's comment). */
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
  const handlers = new UserHandlers(serverFor, deps.logger);
  const streams = new TrackedStreams(deps.logger);

  /** Serves one `/mcp` request of an authenticated caller, from either entry: the app's route or the fast path. */
  const serveMcp: ServeMcp = async (request, caller, authorization, resource, parsedBody) => {
    const { principal } = caller;
    const response = await handlers.for(principal.userId).fetch(request, {
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
    return streams.track(response, principal.userId, authorization, resource);
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
  const direct = createDirectPath({ ...deps, serveMcp });
  const legacy = mountLegacySse(app, {
    guard,
    authed,
    resourceOf,
    serverFor,
    logger: deps.logger,
    ...(deps.sseRelay ? { sseRelay: deps.sseRelay } : {}),
  });

  /** Closes the streams and sessions (of `userId`, or everyone's) whose opening credentials no longer authenticate. */
  const recheck = async (userId?: string) => {
    // A user's sessions and streams usually share one credential: each (user, credential) is resolved once a pass.
    const verdicts = new Map<string, Promise<boolean>>();
    const stillValid: CredentialCheck = (s) => {
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
    await legacy.closeInvalid(stillValid, userId);
    await streams.closeInvalid(stillValid, userId);
  };
  const onCredentials = ({ userId }: { userId: string }) => void recheck(userId);
  deps.apiTokens.events.on('credentials-changed', onCredentials);
  const timer = setInterval(() => void recheck(), RECHECK_MS);
  timer.unref();

  /** Relays a change to the affected users' clients: subscription streams (2026-07-28) and SSE sessions. */
  const relay = (userId: string | null, kind: 'tools' | 'resources') => {
    handlers.notify(userId, kind);
    legacy.notify(userId, kind);
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
      await legacy.close();
      await streams.close();
      await handlers.close();
    },
  };
}
