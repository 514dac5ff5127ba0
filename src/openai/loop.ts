import type * as Ai from 'ai';
import type { FinishReason, LanguageModel, LanguageModelUsage, ModelMessage, ToolSet } from 'ai';
import { asToolResultText } from './tool-output.js';
import { openAiFunction, ToolError, type Tool, type ToolContext, type ToolRegistry } from '../tools/index.js';

type JsonSchema = Parameters<typeof Ai.jsonSchema>[0] & object;

/** The AI SDK, loaded with the first turn rather than at start-up (it is a large import most starts never use). */
let sdk: Promise<typeof Ai> | null = null;
const aiSdk = () => (sdk ??= import('ai'));

export interface ClientToolSpec {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export interface TurnInput {
  model: LanguageModel;
  /** Streams the model's answer (streamText) or takes each step whole (generateText: no per-chunk work). */
  stream: boolean;
  system: string;
  messages: ModelMessage[];
  /** The assistant's tools, run here through the registry. */
  serverTools: readonly Tool[];
  /** The request's own tools: passed to the model, and handed back to the client when called. */
  clientTools: readonly ClientToolSpec[];
  maxSteps: number;
  settings: {
    temperature?: number;
    topP?: number;
    maxOutputTokens?: number;
    stopSequences?: string[];
    seed?: number;
  };
  registry: ToolRegistry;
  /** The tool calls' context (the assistant's principal, logger, request id); `signal` is the turn's. */
  toolContext: Omit<ToolContext, 'signal'>;
  signal: AbortSignal;
  /** Runs before each server tool: throws to end the turn (the key was disabled meanwhile). */
  beforeTool: () => Promise<void>;
}

export type TurnEvent =
  | { type: 'text'; text: string }
  | { type: 'tool-start'; id: string; name: string; arguments: unknown }
  | { type: 'tool-end'; id: string; name: string; result: string; isError: boolean; ms: number }
  | { type: 'client-tool-call'; id: string; name: string; arguments: string }
  | {
      type: 'finish';
      finishReason: 'stop' | 'length' | 'tool_calls' | 'content_filter';
      usage: { prompt: number; completion: number };
      /** The model-side messages of this turn (server steps included), for the mixed-mode splice. */
      responseMessages: () => Promise<ModelMessage[]>;
    };

/** Raised when `beforeTool` refused: the turn ends with the error it carries. */
class TurnStopped extends Error {
  constructor(readonly reason: unknown) {
    super('turn stopped');
  }
}

/**
 * One chat turn: the AI SDK runs the model and the tool loop (`stopWhen` = the assistant's step limit), streamed
 * or not (both give the same parts, `LoopPart`, read by the one loop below); server tools execute through the
 * registry (permissions, text checks, metrics and logs as on every edge), client tools have no `execute`, so a
 * call to one ends the loop and is handed back. Yields what the edge writes out.
 * Tool failures the model can act on come back to it as error text; the client's abort and a refused
 * `beforeTool` end the turn.
 */
export async function* runTurn(input: TurnInput): AsyncGenerator<TurnEvent> {
  const { generateText, jsonSchema, stepCountIs, streamText, tool } = await aiSdk();
  const stop = new AbortController();
  const signal = AbortSignal.any([input.signal, stop.signal]);
  let stopped: TurnStopped | null = null;
  const outcomes = new Map<string, { isError: boolean; ms: number }>();
  const tools: ToolSet = {};
  for (const server of input.serverTools) {
    tools[server.name] = tool({
      description: server.description,
      inputSchema: jsonSchema(openAiFunction(server).function.parameters as JsonSchema),
      execute: async (args: unknown, { toolCallId }) => {
        try {
          await input.beforeTool();
        } catch (err) {
          stopped = new TurnStopped(err);
          stop.abort(stopped);
          throw stopped;
        }
        const started = performance.now();
        let text: string;
        let isError: boolean;
        try {
          const result = await input.registry.call(server.name, args, { ...input.toolContext, signal });
          text = asToolResultText(result);
          isError = result.isError === true;
        } catch (err) {
          if (!(err instanceof ToolError)) throw err;
          text = `Error: ${err.message}`;
          isError = true;
        }
        outcomes.set(toolCallId, { isError, ms: Math.round(performance.now() - started) });
        return text;
      },
    });
  }
  const clientNames = new Set(input.clientTools.map((t) => t.name));
  for (const client of input.clientTools) {
    tools[client.name] = tool({
      description: client.description ?? '',
      inputSchema: jsonSchema((client.parameters ?? { type: 'object', properties: {} }) as JsonSchema),
    });
  }
  const options = {
    model: input.model,
    system: input.system || undefined,
    messages: input.messages,
    allowSystemInMessages: true,
    tools,
    stopWhen: stepCountIs(input.maxSteps),
    // The client decides about retries (it is told not to once a tool ran): no hidden repeats here.
    maxRetries: 0,
    abortSignal: signal,
    ...input.settings,
  };
  // Whether the last step called server tools only: then the step limit cut the loop (see finishReasonOf).
  let lastStepHadServerCalls = false;
  let lastStepHadClientCalls = false;
  try {
    const parts = input.stream ? streamedParts(streamText, options) : generatedParts(generateText, options);
    for await (const part of parts) {
      switch (part.type) {
        case 'text':
          if (part.text) yield { type: 'text', text: part.text };
          break;
        case 'start-step':
          lastStepHadServerCalls = false;
          lastStepHadClientCalls = false;
          break;
        case 'tool-call':
          if (clientNames.has(part.toolName)) {
            lastStepHadClientCalls = true;
            yield {
              type: 'client-tool-call',
              id: part.toolCallId,
              name: part.toolName,
              arguments: JSON.stringify(part.input ?? {}),
            };
          } else {
            lastStepHadServerCalls = true;
            yield { type: 'tool-start', id: part.toolCallId, name: part.toolName, arguments: part.input };
          }
          break;
        case 'tool-result':
        case 'tool-error': {
          const outcome = outcomes.get(part.toolCallId);
          const text = part.type === 'tool-result' ? String(part.output) : 'Error: the tool failed';
          yield {
            type: 'tool-end',
            id: part.toolCallId,
            name: part.toolName,
            result: text,
            isError: part.type === 'tool-error' || (outcome?.isError ?? false),
            ms: outcome?.ms ?? 0,
          };
          break;
        }
        case 'finish':
          yield {
            type: 'finish',
            finishReason: finishReasonOf(
              part.finishReason,
              lastStepHadServerCalls && !lastStepHadClientCalls,
            ),
            usage: { prompt: part.usage.inputTokens ?? 0, completion: part.usage.outputTokens ?? 0 },
            responseMessages: part.responseMessages,
          };
          break;
      }
    }
  } catch (err) {
    // A refused `beforeTool` ends the turn with its own error; an aborted turn with the abort's reason.
    throw stopped ? (stopped as TurnStopped).reason : signal.aborted ? (signal.reason ?? err) : err;
  }
  if (stopped) throw (stopped as TurnStopped).reason;
}

type CallOptions = Parameters<typeof Ai.streamText>[0] & Parameters<typeof Ai.generateText>[0];

/** What the loop reads from either driver, in the order the model and the tools produced it. */
type LoopPart =
  | { type: 'start-step' }
  | { type: 'text'; text: string }
  | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown }
  | { type: 'tool-result'; toolCallId: string; toolName: string; output: unknown }
  | { type: 'tool-error'; toolCallId: string; toolName: string }
  | {
      type: 'finish';
      finishReason: FinishReason;
      usage: LanguageModelUsage;
      responseMessages: () => Promise<ModelMessage[]>;
    };

/** The loop as it streams: parts as they come; a failure or an abort throws. */
async function* streamedParts(
  streamText: typeof Ai.streamText,
  options: CallOptions,
): AsyncGenerator<LoopPart> {
  // Failures arrive as `error` parts and are thrown here; the default handler would console.error.
  const result = streamText({ ...options, onError: () => undefined });
  for await (const part of result.fullStream) {
    switch (part.type) {
      case 'text-delta':
        yield { type: 'text', text: part.text };
        break;
      case 'start-step':
      case 'tool-call':
      case 'tool-result':
      case 'tool-error':
        yield part;
        break;
      case 'error':
        throw part.error;
      case 'abort':
        throw new Error('aborted'); // runTurn answers with the abort's reason
      case 'finish':
        yield {
          type: 'finish',
          finishReason: part.finishReason,
          usage: part.totalUsage,
          responseMessages: async () => (await result.response).messages,
        };
        break;
    }
  }
}

/** The loop run to its end, then its steps' parts in order (what a non-streaming answer needs). */
async function* generatedParts(
  generateText: typeof Ai.generateText,
  options: CallOptions,
): AsyncGenerator<LoopPart> {
  const result = await generateText(options);
  for (const step of result.steps) {
    yield { type: 'start-step' };
    for (const part of step.content) {
      if (
        part.type === 'text' ||
        part.type === 'tool-call' ||
        part.type === 'tool-result' ||
        part.type === 'tool-error'
      )
        yield part;
    }
  }
  const messages = result.response.messages;
  yield {
    type: 'finish',
    finishReason: result.finishReason,
    usage: result.totalUsage,
    responseMessages: async () => messages,
  };
}

/**
 * OpenAI's finish reasons. A last step that still called server tools means the step limit cut the loop:
 * reported as `length` (the answer is incomplete), not `tool_calls`, which would ask the client to act.
 */
function finishReasonOf(
  reason: string,
  serverCallsPending: boolean,
): 'stop' | 'length' | 'tool_calls' | 'content_filter' {
  switch (reason) {
    case 'length':
      return 'length';
    case 'content-filter':
      return 'content_filter';
    case 'tool-calls':
      return serverCallsPending ? 'length' : 'tool_calls';
    default:
      return 'stop';
  }
}
