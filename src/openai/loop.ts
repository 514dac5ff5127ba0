import type * as Ai from 'ai';
import type * as AiInternal from 'ai/internal';
import type { ModelMessage } from 'ai';
import { getErrorMessage, JSONParseError } from '@ai-sdk/provider';
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3FinishReason,
  LanguageModelV3FunctionTool,
  LanguageModelV3StreamPart,
  LanguageModelV3ToolCall,
  LanguageModelV3Usage,
  SharedV3ProviderMetadata,
  SharedV3Warning,
} from '@ai-sdk/provider';
import { asToolResultText } from './tool-output.js';
import { openAiFunction, ToolError, type Tool, type ToolContext, type ToolRegistry } from '../tools/index.js';

/**
 * The AI SDK, loaded with the first turn rather than at start-up (a large import most starts never use): its
 * prompt conversion and call-settings checks (`ai/internal`, what `streamText` itself calls), and its error
 * classes and JSON parsing, so that what the model is told about a bad tool call reads as it did with `streamText`.
 */
let sdk: Promise<[typeof AiInternal, typeof Ai]> | null = null;
const aiSdk = () => (sdk ??= Promise.all([import('ai/internal'), import('ai')]));

export interface ClientToolSpec {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export interface TurnInput {
  model: LanguageModelV3;
  /** Streams the model's answer (`doStream`) or takes each step whole (`doGenerate`: no per-chunk work). */
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

type AssistantPart = Exclude<Extract<ModelMessage, { role: 'assistant' }>['content'], string>[number];
type ToolResultPart = Extract<
  Extract<ModelMessage, { role: 'tool' }>['content'][number],
  { type: 'tool-result' }
>;

/** A tool call of the model, its input parsed (`error` set when it names no tool or its input is not JSON). */
interface ParsedCall {
  id: string;
  name: string;
  input: unknown;
  error?: unknown;
  providerMetadata?: SharedV3ProviderMetadata;
}

/** What a tool call came to: the tool's text, or the error the model is told about. */
type Outcome = { id: string; name: string } & ({ output: string } | { error: unknown });

/**
 * One chat turn, and its tool loop: each step is one model call through the provider's `LanguageModelV3`
 * (`doStream`, or `doGenerate` without streaming); its server tool calls run through the registry (permissions,
 * text checks, metrics and logs as on every edge) and their results go back to the model as messages, until a
 * step calls no tool, calls a client tool (handed back: it has no result here) or the assistant's step limit is
 * reached. Yields what the edge writes out.
 *
 * This is the loop `streamText`/`generateText` run (their `stopWhen` step count, tool-call parsing, tool
 * execution after the step, response messages and usage totals), written out because `streamText`'s per-turn
 * work (validating the messages, telemetry spans, a pipeline of a dozen web streams) cost a streamed turn's first
 * token about 1.3 ms on Node 20 (bench/README.md, issue 13). The provider package still speaks the wire protocol.
 * Tool failures the model can act on come back to it as error text; the client's abort and a refused
 * `beforeTool` end the turn.
 */
export async function* runTurn(input: TurnInput): AsyncGenerator<TurnEvent> {
  const [{ convertToLanguageModelPrompt, prepareCallSettings }, ai] = await aiSdk();
  const stop = new AbortController();
  const signal = AbortSignal.any([input.signal, stop.signal]);
  let stopped: TurnStopped | null = null;
  const serverNames = new Set(input.serverTools.map((t) => t.name));
  const clientNames = new Set(input.clientTools.map((t) => t.name));
  const tools: LanguageModelV3FunctionTool[] = [
    ...input.serverTools.map((t) => ({
      type: 'function' as const,
      name: t.name,
      description: t.description,
      inputSchema: openAiFunction(t).function.parameters as LanguageModelV3FunctionTool['inputSchema'],
    })),
    ...input.clientTools.map((t) => ({
      type: 'function' as const,
      name: t.name,
      description: t.description ?? '',
      inputSchema: t.parameters ?? { type: 'object', properties: {} },
    })),
  ];
  const call: Omit<LanguageModelV3CallOptions, 'prompt'> = {
    ...prepareCallSettings(input.settings),
    ...(tools.length ? { tools, toolChoice: { type: 'auto' as const } } : {}),
    // The client decides about retries (it is told not to once a tool ran): no hidden repeats here.
    abortSignal: signal,
  };

  const outcomes = new Map<string, { isError: boolean; ms: number }>();
  /** The tool's text for the model; a ToolError is text the model can act on, anything else fails the call. */
  const runServerTool = async (c: ParsedCall): Promise<Outcome> => {
    try {
      await input.beforeTool();
    } catch (err) {
      stopped = new TurnStopped(err);
      stop.abort(stopped);
      return { id: c.id, name: c.name, error: stopped };
    }
    const started = performance.now();
    let output: string;
    let isError: boolean;
    try {
      const result = await input.registry.call(c.name, c.input, { ...input.toolContext, signal });
      output = asToolResultText(result);
      isError = result.isError === true;
    } catch (err) {
      if (!(err instanceof ToolError)) return { id: c.id, name: c.name, error: err };
      output = `Error: ${err.message}`;
      isError = true;
    }
    outcomes.set(c.id, { isError, ms: Math.round(performance.now() - started) });
    return { id: c.id, name: c.name, output };
  };
  const toolEnd = (o: Outcome): TurnEvent => ({
    type: 'tool-end',
    id: o.id,
    name: o.name,
    result: 'output' in o ? o.output : 'Error: the tool failed',
    isError: !('output' in o) || (outcomes.get(o.id)?.isError ?? false),
    ms: outcomes.get(o.id)?.ms ?? 0,
  });

  const responseMessages: ModelMessage[] = [];
  const usage = { prompt: 0, completion: 0 };
  try {
    for (let step = 1; ; step++) {
      const prompt = await convertToLanguageModelPrompt({
        prompt: { system: input.system || undefined, messages: [...input.messages, ...responseMessages] },
        supportedUrls: await input.model.supportedUrls,
        download: undefined,
      });
      const calls: ParsedCall[] = [];
      const outputs: Outcome[] = [];
      let end: StepEnd | undefined;
      const parts = input.stream
        ? streamedStep(input.model, { ...call, prompt })
        : generatedStep(input.model, { ...call, prompt });
      for await (const part of parts) {
        if (signal.aborted) throw signal.reason;
        if (part.type === 'text') {
          if (part.text) yield part;
        } else if (part.type === 'tool-call') {
          const c = await parseCall(ai, part, tools);
          calls.push(c);
          if (clientNames.has(c.name))
            yield {
              type: 'client-tool-call',
              id: c.id,
              name: c.name,
              arguments: JSON.stringify(c.input ?? {}),
            };
          else yield { type: 'tool-start', id: c.id, name: c.name, arguments: c.input };
          // A call the model got wrong is answered at once with what was wrong.
          if (c.error !== undefined) {
            const o: Outcome = { id: c.id, name: c.name, error: getErrorMessage(c.error) };
            outputs.push(o);
            yield toolEnd(o);
          }
        } else end = part;
      }
      const { content, finishReason, usage: used } = end as StepEnd; // a step's last part
      usage.prompt += used.inputTokens.total ?? 0;
      usage.completion += used.outputTokens.total ?? 0;
      // Tools run once the step has finished, all at once, and only when the model stopped to call them (not
      // when it ran out of tokens, for instance); results are reported as they come.
      const runs = new Map<string, Promise<Outcome>>();
      if (finishReason.unified === 'stop' || finishReason.unified === 'tool-calls')
        for (const c of calls)
          if (c.error === undefined && serverNames.has(c.name)) runs.set(c.id, runServerTool(c));
      while (runs.size) {
        const o = await Promise.race(runs.values());
        runs.delete(o.id);
        if (signal.aborted) throw signal.reason; // a refused `beforeTool` too (see the catch)
        outputs.push(o);
        yield toolEnd(o);
      }
      responseMessages.push(...stepMessages(content, calls, outputs));
      // Server calls only in the last step: the step limit cut the loop (see finishReasonOf).
      const serverCallsPending =
        calls.some((c) => !clientNames.has(c.name)) && !calls.some((c) => clientNames.has(c.name));
      // Another step when every call has its result (a client tool's has none: the client answers it).
      if (calls.length === 0 || outputs.length < calls.length || step >= input.maxSteps) {
        yield {
          type: 'finish',
          finishReason: finishReasonOf(finishReason.unified, serverCallsPending),
          usage,
          responseMessages: async () => responseMessages,
        };
        return;
      }
    }
  } catch (err) {
    // A refused `beforeTool` ends the turn with its own error; an aborted turn with the abort's reason.
    throw stopped ? (stopped as TurnStopped).reason : signal.aborted ? (signal.reason ?? err) : err;
  }
}

type KeptPart = Extract<AssistantPart, { type: 'text' | 'reasoning' }>;

/** The end of one model call: what it said (in order; tool calls by id) and why it stopped. */
interface StepEnd {
  type: 'end';
  content: Array<KeptPart | { type: 'tool-call'; toolCallId: string }>;
  finishReason: LanguageModelV3FinishReason;
  usage: LanguageModelV3Usage;
}
type StepPart = { type: 'text'; text: string } | LanguageModelV3ToolCall | StepEnd;

/**
 * One streamed model call: text as it comes, tool calls as they complete, then the step's content. Text and
 * reasoning are kept per part, with the provider's metadata (a reasoning signature must go back with it).
 */
async function* streamedStep(
  model: LanguageModelV3,
  call: LanguageModelV3CallOptions,
): AsyncGenerator<StepPart> {
  const { stream } = await model.doStream({ ...call, includeRawChunks: false });
  const content: StepEnd['content'] = [];
  const open = new Map<string, KeptPart>();
  let finish: Extract<LanguageModelV3StreamPart, { type: 'finish' }> | undefined;
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      const part = next.value;
      switch (part.type) {
        case 'text-start':
        case 'reasoning-start': {
          const kept: KeptPart = {
            type: part.type === 'text-start' ? 'text' : 'reasoning',
            text: '',
            providerOptions: part.providerMetadata,
          };
          open.set(part.id, kept);
          content.push(kept);
          break;
        }
        case 'text-delta':
        case 'reasoning-delta': {
          const kept = open.get(part.id);
          if (kept) {
            kept.text += part.delta;
            kept.providerOptions = part.providerMetadata ?? kept.providerOptions;
          }
          if (part.type === 'text-delta') yield { type: 'text', text: part.delta };
          break;
        }
        case 'text-end':
        case 'reasoning-end': {
          const kept = open.get(part.id);
          if (kept) kept.providerOptions = part.providerMetadata ?? kept.providerOptions;
          open.delete(part.id);
          break;
        }
        case 'tool-call':
          content.push({ type: 'tool-call', toolCallId: part.toolCallId });
          yield part;
          break;
        case 'stream-start':
          reportWarnings(model, part.warnings);
          break;
        case 'finish':
          finish = part;
          break;
        case 'error':
          throw part.error;
      }
    }
    done = true;
  } finally {
    // Left early (an error, the turn given up): the provider's response is not read further.
    if (!done) void reader.cancel().catch(() => undefined);
  }
  if (finish) yield { type: 'end', content, finishReason: finish.finishReason, usage: finish.usage };
  // As the AI SDK: a stream that said something but did not finish ended for an unknown reason.
  else if (content.length)
    yield { type: 'end', content, finishReason: { unified: 'other', raw: undefined }, usage: NO_USAGE };
  else throw new Error('No output generated. The model stream ended without a finish chunk.');
}

/** One model call taken whole: the same parts, all at once. */
async function* generatedStep(
  model: LanguageModelV3,
  call: LanguageModelV3CallOptions,
): AsyncGenerator<StepPart> {
  const result = await model.doGenerate(call);
  reportWarnings(model, result.warnings);
  const content: StepEnd['content'] = [];
  for (const part of result.content) {
    if (part.type === 'text' || part.type === 'reasoning') {
      content.push({ type: part.type, text: part.text, providerOptions: part.providerMetadata });
      if (part.type === 'text') yield { type: 'text', text: part.text };
    } else if (part.type === 'tool-call') {
      content.push({ type: 'tool-call', toolCallId: part.toolCallId });
      yield part;
    }
  }
  yield { type: 'end', content, finishReason: result.finishReason, usage: result.usage };
}

/**
 * The provider's warnings (a setting it does not support, say) where the AI SDK reports them:
 * `AI_SDK_LOG_WARNINGS`, which the server points at its log (server/context.ts).
 */
function reportWarnings(model: LanguageModelV3, warnings: SharedV3Warning[]): void {
  const log = globalThis.AI_SDK_LOG_WARNINGS;
  if (warnings.length && typeof log === 'function')
    log({ warnings, provider: model.provider, model: model.modelId });
}

const NO_USAGE: LanguageModelV3Usage = {
  inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: undefined, text: undefined, reasoning: undefined },
};

/**
 * A tool call's input as the AI SDK parses it: empty is `{}`, otherwise JSON (refusing `__proto__` keys, as the
 * SDK's parser does). A name no tool has, or input that does not parse, is an error the model is told about, in
 * the SDK's words.
 */
async function parseCall(
  ai: typeof Ai,
  call: LanguageModelV3ToolCall,
  tools: readonly LanguageModelV3FunctionTool[],
): Promise<ParsedCall> {
  const base = { id: call.toolCallId, name: call.toolName, providerMetadata: call.providerMetadata };
  const text = call.input;
  const known = tools.some((t) => t.name === call.toolName);
  if (known && text.trim() === '') return { ...base, input: {} };
  const parsed = await ai.parsePartialJson(text);
  const ok = parsed.state === 'successful-parse';
  if (!known) {
    const error = new ai.NoSuchToolError({
      toolName: call.toolName,
      availableTools: tools.map((t) => t.name),
    });
    return { ...base, input: ok ? parsed.value : text, error };
  }
  if (ok) return { ...base, input: parsed.value };
  let cause: unknown = new SyntaxError('Object contains forbidden prototype property');
  try {
    JSON.parse(text);
  } catch (err) {
    cause = err;
  }
  const error = new ai.InvalidToolInputError({
    toolName: call.toolName,
    toolInput: text,
    cause: new JSONParseError({ text, cause }),
  });
  return { ...base, input: text, error };
}

/**
 * A step as messages for the next one, as the AI SDK writes them: the assistant's text, reasoning and tool calls
 * in the order they came (empty text left out), then the tool results in the order of the calls (a call's
 * provider metadata, such as a thought signature, goes back with the result of a tool that ran).
 */
function stepMessages(content: StepEnd['content'], calls: ParsedCall[], outputs: Outcome[]): ModelMessage[] {
  const byId = new Map(calls.map((c) => [c.id, c]));
  const parts: AssistantPart[] = [];
  for (const part of content) {
    if (part.type !== 'tool-call') {
      if (part.type === 'reasoning' || part.text) parts.push(part);
      continue;
    }
    const c = byId.get(part.toolCallId)!;
    parts.push({
      type: 'tool-call',
      toolCallId: c.id,
      toolName: c.name,
      input: c.error !== undefined && typeof c.input !== 'object' ? {} : c.input,
      providerOptions: c.providerMetadata,
    });
  }
  const order = calls.map((c) => c.id);
  const results = [...outputs]
    .sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))
    .map((o): ToolResultPart => {
      const c = byId.get(o.id)!;
      return {
        type: 'tool-result',
        toolCallId: o.id,
        toolName: o.name,
        output:
          'output' in o
            ? { type: 'text', value: o.output }
            : { type: 'error-text', value: getErrorMessage(o.error) },
        ...(c.error === undefined && c.providerMetadata ? { providerOptions: c.providerMetadata } : {}),
      };
    });
  return [
    ...(parts.length ? [{ role: 'assistant' as const, content: parts }] : []),
    ...(results.length ? [{ role: 'tool' as const, content: results }] : []),
  ];
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
