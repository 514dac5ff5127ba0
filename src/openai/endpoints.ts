import { APICallError } from '@ai-sdk/provider';
import { Hono, type Context } from 'hono';
import type { Authenticator } from '../accounts/index.js';
import type { AppEnv } from '../http/index.js';
import { findUnsafeText } from '../shared/text.js';
import { prepareTurn, type ChatDeps, type PreparedTurn } from './chat.js';
import { errorBody, modelNotFound, openAiError, toOpenAiError, type OpenAiError } from './errors.js';
import { ChatRequest } from './messages.js';
import { CompletionWire, sseData, usageOf, type Usage } from './wire.js';

/** While a tool runs the stream is quiet; comment lines keep proxies from closing it (clients ignore them). */
const KEEPALIVE_MS = 10_000;

/** Opt-in for the server's tool steps: `stream_options.x_skillport_tool_events` or this header. */
const TOOL_EVENTS_HEADER = 'x-skillport-tool-events';
/** Names a server-kept session (`new` starts one); the answer names it too. */
const SESSION_HEADER = 'x-skillport-session';

function answerError(c: Context<AppEnv>, e: OpenAiError, noRetry = false): Response {
  if (noRetry) c.header('x-should-retry', 'false');
  if (e.status === 401) c.header('WWW-Authenticate', 'Bearer realm="skillport", error="invalid_token"');
  return c.json(errorBody(e), e.status as 400);
}

/**
 * The OpenAI-compatible edge, mounted at `/v1`: `GET /models` (exactly the assistants the credential may call)
 * and `POST /chat/completions` (streaming or not) with the tool loop on the server. Errors use OpenAI's shape.
 * Authentication: a bearer API key with `can_call_assistant` (or a console session).
 */
export function openAiRoutes(deps: ChatDeps & { auth: Authenticator }) {
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    const result = await deps.auth.resolve(c.req.header('authorization'), 'assistants');
    if ('failure' in result) {
      return result.failure === 'insufficient_scope'
        ? answerError(
            c,
            openAiError(
              403,
              'insufficient_scope',
              'This API key may not call assistants (can_call_assistant)',
            ),
          )
        : answerError(c, openAiError(401, 'invalid_api_key', 'Invalid API key'));
    }
    c.set('principal', result.principal);
    await next();
  });

  const modelObject = (a: { slug: string; createdAt: Date; description: string }) => ({
    id: a.slug,
    object: 'model' as const,
    created: Math.floor(a.createdAt.getTime() / 1000),
    owned_by: 'skillport',
    description: a.description,
  });
  app.get('/models', async (c) => {
    const list = await deps.assistants.callable(c.get('principal'));
    return c.json({ object: 'list', data: list.map(modelObject) });
  });
  app.get('/models/:id', async (c) => {
    const a = await deps.assistants.forCall(c.get('principal'), c.req.param('id'));
    return a ? c.json(modelObject(a)) : answerError(c, modelNotFound(c.req.param('id')));
  });

  app.post('/chat/completions', async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return answerError(c, openAiError(400, 'invalid_json', 'The request body is not valid JSON'));
    }
    const unsafe = findUnsafeText(raw);
    if (unsafe)
      return answerError(
        c,
        openAiError(
          400,
          'invalid_input',
          'The request holds text that cannot be stored (NUL or a lone surrogate)',
        ),
      );
    const parsed = ChatRequest.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.join('.') || null;
      return answerError(
        c,
        openAiError(400, 'invalid_request', `Invalid request: ${param ?? 'body'} ${issue.message}`, param),
      );
    }
    const request = parsed.data;
    const header = c.req.header('authorization');
    const disconnected = new AbortController();
    c.req.raw.signal.addEventListener('abort', () => disconnected.abort(c.req.raw.signal.reason), {
      once: true,
    });
    let turn: PreparedTurn;
    try {
      turn = await prepareTurn(deps, c.get('principal'), request, {
        signal: disconnected.signal,
        logger: c.get('log'),
        requestId: c.get('requestId'),
        sessionId: c.req.header(SESSION_HEADER) ?? request.metadata?.skillport_session,
        beforeTool: async () => {
          // A key disabled or revoked during the turn stops it before its next tool runs.
          const again = await deps.auth.resolve(header, 'assistants');
          if ('failure' in again) throw openAiError(401, 'invalid_api_key', 'The API key is no longer valid');
        },
      });
    } catch (err) {
      return answerError(c, asOpenAiError(err), asOpenAiError(err).code === 'session_busy');
    }
    if (turn.sessionId) c.header(SESSION_HEADER, turn.sessionId);
    const toolEvents =
      request.stream_options?.x_skillport_tool_events === true || c.req.header(TOOL_EVENTS_HEADER) === 'true';
    const wire = new CompletionWire(request.model, request.stream_options?.include_usage === true);
    if (request.stream) return streamAnswer(c, turn, wire, toolEvents, disconnected);
    return completeAnswer(c, turn, wire, toolEvents);
  });
  return app;
}

const asOpenAiError = (err: unknown): OpenAiError =>
  err && typeof err === 'object' && 'type' in err && 'status' in err && 'code' in err
    ? (err as OpenAiError)
    : toOpenAiError(err);

interface ToolStep {
  id: string;
  name: string;
  arguments: unknown;
  result?: string;
  is_error?: boolean;
  duration_ms?: number;
}

async function completeAnswer(
  c: Context<AppEnv>,
  turn: PreparedTurn,
  wire: CompletionWire,
  toolEvents: boolean,
) {
  let content = '';
  const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  const steps: ToolStep[] = [];
  try {
    for await (const e of turn.events) {
      if (e.type === 'text') content += e.text;
      else if (e.type === 'tool-start') steps.push({ id: e.id, name: e.name, arguments: e.arguments });
      else if (e.type === 'tool-end')
        Object.assign(steps.find((s) => s.id === e.id) ?? {}, {
          result: e.result,
          is_error: e.isError,
          duration_ms: e.ms,
        });
      else if (e.type === 'client-tool-call')
        calls.push({ id: e.id, type: 'function', function: { name: e.name, arguments: e.arguments } });
      else if (e.type === 'finish') {
        await turn.complete(calls, e.responseMessages);
        turn.recordUsage(e.usage, 'ok');
        const message = {
          role: 'assistant',
          content: content || (calls.length ? null : ''),
          refusal: null,
          ...(calls.length ? { tool_calls: calls } : {}),
        };
        return c.json(
          wire.completion(
            message,
            e.finishReason,
            e.usage,
            toolEvents ? { skillport: { tool_steps: steps } } : {},
          ),
        );
      }
    }
    throw new Error('the turn ended without finishing');
  } catch (err) {
    await turn.abandon().catch(() => undefined);
    turn.recordUsage({ prompt: 0, completion: 0 }, 'error');
    logFailure(c, err);
    return answerError(c, asOpenAiError(err), turn.toolRan());
  }
}

function streamAnswer(
  c: Context<AppEnv>,
  turn: PreparedTurn,
  wire: CompletionWire,
  toolEvents: boolean,
  disconnected: AbortController,
): Response {
  const encoder = new TextEncoder();
  let keepalive: NodeJS.Timeout | undefined;
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      const write = (text: string) => controller.enqueue(encoder.encode(text));
      keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
      void (async () => {
        let index = 0;
        const calls: Array<{ id: string }> = [];
        try {
          write(sseData(wire.chunk({ role: 'assistant', content: '' })));
          for await (const e of turn.events) {
            if (e.type === 'text') write(sseData(wire.chunk({ content: e.text })));
            else if (e.type === 'client-tool-call') {
              const i = index++;
              calls.push({ id: e.id });
              write(
                sseData(
                  wire.chunk({
                    tool_calls: [
                      { index: i, id: e.id, type: 'function', function: { name: e.name, arguments: '' } },
                    ],
                  }),
                ),
              );
              write(
                sseData(wire.chunk({ tool_calls: [{ index: i, function: { arguments: e.arguments } }] })),
              );
            } else if ((e.type === 'tool-start' || e.type === 'tool-end') && toolEvents) {
              write(sseData(wire.emptyChunk({ skillport: { tool_event: toolEvent(e) } })));
            } else if (e.type === 'finish') {
              await turn.complete(calls, e.responseMessages);
              write(sseData(wire.chunk({}, e.finishReason)));
              if (wire.includeUsage) write(sseData(wire.emptyChunk({ usage: usageOf(e.usage as Usage) })));
              write('data: [DONE]\n\n');
              turn.recordUsage(e.usage, 'ok');
            }
          }
        } catch (err) {
          if (!disconnected.signal.aborted) {
            logFailure(c, err);
            write(sseData(errorBody(asOpenAiError(err))));
          }
          await turn.abandon().catch(() => undefined);
          turn.recordUsage({ prompt: 0, completion: 0 }, disconnected.signal.aborted ? 'cancelled' : 'error');
        } finally {
          clearInterval(keepalive);
          try {
            controller.close();
          } catch {
            // already closed by a cancel
          }
        }
      })();
    },
    cancel: () => {
      clearInterval(keepalive);
      disconnected.abort(new Error('client disconnected'));
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      'X-Request-Id': c.get('requestId'),
      ...(turn.sessionId ? { 'X-Skillport-Session': turn.sessionId } : {}),
    },
  });
}

function toolEvent(
  e: { type: 'tool-start' | 'tool-end'; id: string; name: string } & Record<string, unknown>,
) {
  return e.type === 'tool-start'
    ? { phase: 'start', id: e.id, name: e.name, arguments: e.arguments }
    : { phase: 'end', id: e.id, name: e.name, result: e.result, is_error: e.isError, duration_ms: e.ms };
}

function logFailure(c: Context<AppEnv>, err: unknown) {
  const e = asOpenAiError(err);
  // A provider's error text may echo request details: only its status is logged.
  const provider = APICallError.isInstance(err) ? { provider_status: err.statusCode ?? null } : {};
  const detail = APICallError.isInstance(err)
    ? {}
    : { err: err instanceof Error ? err.message : String(err) };
  if (e.status >= 500) c.get('log').warn({ code: e.code, ...provider, ...detail }, 'chat turn failed');
}
