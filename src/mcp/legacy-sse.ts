/**
 * The legacy HTTP+SSE transport (2024-11-05): `GET /sse` opens a session whose server instance lives as long as
 * the stream, `POST /messages?sessionId=` carries the client's messages to it. With `serve --workers`, a message
 * may land on a process that does not hold the session: it is relayed to the one that does (`SseRelay`).
 */
import type { McpServer } from '@modelcontextprotocol/server';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { errorResponse, type AppEnv } from '../http/index.js';
import type { Logger } from '../observability/index.js';
import type { Caller, CredentialCheck } from './caller.js';
import { refreshTools } from './server.js';

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

export interface LegacySseOptions {
  /** The checks every MCP route runs first: DNS-rebinding guard, then the credential (`tools.use`). */
  guard: MiddlewareHandler<AppEnv>;
  authed: MiddlewareHandler<AppEnv>;
  /** The MCP resource a request's credential was presented for. */
  resourceOf: (c: Context<AppEnv>) => { resource: string };
  serverFor: (caller: Caller) => Promise<McpServer>;
  logger: Logger;
  sseRelay?: SseRelay;
}

/** The v1 SDK's cap on one `POST /messages` body (its `MAXIMUM_MESSAGE_SIZE`, 4 MB), kept for relayed ones. */
const MAX_SSE_MESSAGE_BYTES = 4 * 1024 * 1024;
const MAX_SSE_SESSIONS_PER_USER = 16;

interface SseSession {
  transport: SSEServerTransport;
  server: McpServer;
  userId: string;
  authorization: string;
  /** The MCP resource the credential was presented for (OAuth tokens are bound to it). */
  resource: string;
  close(): Promise<void>;
}

/** This process's legacy SSE sessions, once their routes are mounted. */
export interface LegacySse {
  /** Closes the sessions (of `userId`, or everyone's) whose opening credential no longer authenticates. */
  closeInvalid(stillValid: CredentialCheck, userId?: string): Promise<void>;
  /** Tells the sessions of `userId` (every user's when null) that their tools or resources changed. */
  notify(userId: string | null, kind: 'tools' | 'resources'): void;
  close(): Promise<void>;
}

export function mountLegacySse(app: Hono<AppEnv>, o: LegacySseOptions): LegacySse {
  const sessions = new Map<string, SseSession>();
  const dropSession = (id: string) => {
    if (sessions.delete(id)) o.sseRelay?.closed(id);
  };

  app.get('/sse', o.guard, o.authed, async (c) => {
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
    const server = await o.serverFor({ principal, log: c.get('log') });
    const session: SseSession = {
      transport,
      server,
      userId: principal.userId,
      authorization: c.req.header('authorization')!,
      resource: o.resourceOf(c).resource,
      close: () => server.close(),
    };
    sessions.set(transport.sessionId, session);
    o.sseRelay?.opened(transport.sessionId);
    transport.onclose = () => dropSession(transport.sessionId);
    c.env.outgoing.on('close', () => {
      dropSession(transport.sessionId);
      void server.close();
    });
    await server.connect(transport);
    o.logger.info({ user: principal.userId, session: transport.sessionId }, 'sse session opened');
    return RESPONSE_ALREADY_SENT;
  });

  app.post('/messages', o.guard, o.authed, async (c) => {
    const sessionId = c.req.query('sessionId') ?? '';
    const userId = c.get('principal').userId;
    const session = sessions.get(sessionId);
    if (!session && o.sseRelay && sessionId) return relayMessage(c, o.sseRelay, sessionId, userId);
    // Another user's session id is answered exactly like an unknown one.
    if (!session || session.userId !== userId) {
      return errorResponse(c, 404, 'not_found', 'Unknown SSE session');
    }
    await session.transport.handlePostMessage(c.env.incoming, c.env.outgoing);
    return RESPONSE_ALREADY_SENT;
  });
  // Messages another worker received for a session of this one (the same user check as above).
  o.sseRelay?.serve(async (sessionId, userId, message) => {
    const session = sessions.get(sessionId);
    if (!session || session.userId !== userId) return 404;
    try {
      await session.transport.handleMessage(message as never);
      return 202;
    } catch {
      return 400;
    }
  });

  return {
    async closeInvalid(stillValid, userId) {
      for (const [id, s] of sessions) {
        if (userId && s.userId !== userId) continue;
        if (!(await stillValid(s))) {
          dropSession(id);
          o.logger.info({ user: s.userId, session: id }, 'sse session closed: credentials no longer valid');
          await s.close().catch(() => undefined);
        }
      }
    },
    notify(userId, kind) {
      for (const s of sessions.values()) {
        if (userId && s.userId !== userId) continue;
        // The SSE server instance is long-lived: its tools are brought up to date (which tells its client), and a
        // resource change is told to its client directly.
        if (kind === 'tools')
          void refreshTools(s.server).catch((err: Error) =>
            o.logger.warn({ err: err.message, user: s.userId }, 'sse session tools not refreshed'),
          );
        else
          void s.transport
            .send({ jsonrpc: '2.0', method: 'notifications/resources/list_changed' })
            .catch(() => undefined);
      }
    },
    async close() {
      await Promise.all([...sessions.values()].map((s) => s.close().catch(() => undefined)));
      for (const id of [...sessions.keys()]) dropSession(id);
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
