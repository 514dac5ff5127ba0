import type { ModelMessage } from 'ai';
import type { AssistantRow, AssistantsService, ChatSessions, SessionTurn } from '../assistants/index.js';
import { assistantPrincipal, selectTools } from '../assistants/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { ProvidersService } from '../providers/index.js';
import type { Principal } from '../shared/principal.js';
import type { ToolRegistry } from '../tools/index.js';
import { modelNotFound, openAiError, OpenAiTurnError } from './errors.js';
import { runTurn, type TurnEvent, type TurnInput } from './loop.js';
import { toModelMessages, type ChatRequest } from './messages.js';
import type { PendingToolTurns } from './pending.js';

export interface ChatDeps {
  assistants: AssistantsService;
  providers: ProvidersService;
  tools: ToolRegistry;
  pending: PendingToolTurns;
  sessions: ChatSessions;
  metrics: Metrics;
  turnTimeoutMs: number;
}

/** A turn ready to run, with what the edge needs to answer and account for it. */
export interface PreparedTurn {
  assistant: AssistantRow;
  events: AsyncGenerator<TurnEvent>;
  /** The server-kept session this turn continues, if the request named one. */
  sessionId: string | null;
  /** Whether a server tool has started (then the client must not retry blindly). */
  toolRan(): boolean;
  /**
   * Keeps what the next request needs: the turn's messages in its session, and the hidden steps when the turn
   * handed client tool calls back (mixed mode).
   */
  complete(calls: Array<{ id: string }>, responseMessages: () => Promise<ModelMessage[]>): Promise<void>;
  /** Frees the session after a failed or cancelled turn (its history stays as it was). */
  abandon(): Promise<void>;
  /** Counts the turn in metrics and the assistant's usage (written in the background). */
  recordUsage(usage: { prompt: number; completion: number }, outcome: string): void;
}

/**
 * Resolves the request's assistant (only one the credential may call; any other is `model_not_found`), its
 * model, its tools (the registry's view for the assistant's principal, narrowed to the assistant's selection)
 * and the history (hidden steps spliced back), and starts the turn.
 */
export async function prepareTurn(
  deps: ChatDeps,
  caller: Principal,
  request: ChatRequest,
  ctx: {
    signal: AbortSignal;
    logger: Logger;
    requestId: string;
    beforeTool: () => Promise<void>;
    /** A session id, or `new` to start one. */
    sessionId?: string;
  },
): Promise<PreparedTurn> {
  if (request.n !== undefined && request.n !== null && request.n !== 1)
    throw new OpenAiTurnError(openAiError(400, 'unsupported_value', 'Only n = 1 is supported', 'n'));
  const assistant = await deps.assistants.forCall(caller, request.model);
  if (!assistant) throw new OpenAiTurnError(modelNotFound(request.model));
  const model = await deps.providers.languageModel(assistant.ownerId, assistant.providerId, assistant.model);
  const principal = assistantPrincipal(caller, assistant);
  const serverTools = selectTools(assistant, (await deps.tools.toolsFor(principal)).tools);
  const clientTools = (request.tools ?? []).map((t) => ({
    name: t.function.name,
    description: t.function.description,
    parameters: t.function.parameters,
  }));
  const taken = clientTools.find((t) => serverTools.some((s) => s.name === t.name));
  if (taken)
    throw new OpenAiTurnError(
      openAiError(
        400,
        'tool_name_conflict',
        `The tool name "${taken.name}" is one of the assistant's own tools`,
        'tools',
      ),
    );
  const firstCallIds = request.messages.flatMap((m) =>
    m.role === 'assistant' && m.tool_calls?.length ? [m.tool_calls[0]!.id] : [],
  );
  const stored = await deps.pending.load(principal.userId, assistant.id, firstCallIds);
  const newMessages = toModelMessages(request.messages, (id) => stored.get(id) ?? null);
  const session = ctx.sessionId
    ? await beginSession(deps.sessions, caller, ctx.sessionId, assistant.id)
    : null;
  let toolRan = false;
  const input: TurnInput = {
    model,
    stream: request.stream === true,
    system: assistant.systemPrompt,
    messages: [...((session?.history ?? []) as ModelMessage[]), ...newMessages],
    serverTools,
    clientTools,
    maxSteps: assistant.maxSteps,
    settings: generationSettings(assistant, request),
    registry: deps.tools,
    toolContext: { principal, logger: ctx.logger, requestId: ctx.requestId },
    signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(deps.turnTimeoutMs)]),
    beforeTool: async () => {
      toolRan = true;
      await ctx.beforeTool();
    },
  };
  return {
    assistant,
    events: runTurn(input),
    sessionId: session?.id ?? null,
    toolRan: () => toolRan,
    complete: async (calls, responseMessages) => {
      if (!calls.length && !session) return;
      const messages = await responseMessages();
      if (calls.length) await deps.pending.save(principal.userId, assistant.id, calls[0]!.id, messages);
      await session?.commit([...newMessages, ...messages], titleOf(request));
    },
    abandon: async () => {
      await session?.release();
    },
    recordUsage: (usage, outcome) => {
      deps.metrics.assistantTurns.inc({ assistant: assistant.slug, outcome });
      deps.metrics.assistantTokens.inc({ assistant: assistant.slug, kind: 'prompt' }, usage.prompt);
      deps.metrics.assistantTokens.inc({ assistant: assistant.slug, kind: 'completion' }, usage.completion);
      deps.assistants.recordUsage(caller, assistant.id, usage);
    },
  };
}

/** The assistant's settings, overridden by the request's where it gives them (within the assistant's cap). */
function generationSettings(a: AssistantRow, r: ChatRequest): TurnInput['settings'] {
  const requested = r.max_completion_tokens ?? r.max_tokens ?? undefined;
  const cap = a.maxTokens ?? undefined;
  const maxOutputTokens = requested && cap ? Math.min(requested, cap) : (requested ?? cap);
  const stop = typeof r.stop === 'string' ? [r.stop] : (r.stop ?? undefined);
  return {
    ...(maxOutputTokens ? { maxOutputTokens } : {}),
    ...((r.temperature ?? a.temperature) != null ? { temperature: (r.temperature ?? a.temperature)! } : {}),
    ...(r.top_p != null ? { topP: r.top_p } : {}),
    ...(stop ? { stopSequences: stop } : {}),
    ...(r.seed != null ? { seed: r.seed } : {}),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Takes the named session's turn (`new` creates one for this assistant); an unknown id is 404. */
async function beginSession(
  sessions: ChatSessions,
  caller: Principal,
  id: string,
  assistantId: string,
): Promise<SessionTurn> {
  if (id === 'new') id = (await sessions.create(caller, assistantId)).id;
  if (!UUID.test(id))
    throw new OpenAiTurnError(
      openAiError(404, 'session_not_found', 'Session not found', 'x-skillport-session'),
    );
  return sessions.begin(caller, id, assistantId);
}

/** A session's title: the start of the first user message. */
function titleOf(request: ChatRequest): string {
  const first = request.messages.find((m) => m.role === 'user');
  const content = first?.content;
  const text =
    typeof content === 'string'
      ? content
      : (content ?? []).map((p) => ('text' in p ? String(p.text) : '')).join(' ');
  return text.replace(/\s+/g, ' ').trim();
}
