import type * as Ai from 'ai';
import type * as AiInternal from 'ai/internal';
import type { ModelMessage } from 'ai';
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3FunctionTool,
} from '@ai-sdk/provider';
import { generatedStep, streamedStep, type StepEnd } from './model-step.js';
import { parseCall, stepMessages, type Outcome, type ParsedCall } from './tool-calls.js';
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
  const serverTools = new ServerToolRuns(input, signal, stop);
  const clientNames = new Set(input.clientTools.map((t) => t.name));
  const tools = functionTools(input);
  const call: Omit<LanguageModelV3CallOptions, 'prompt'> = {
    ...prepareCallSettings(input.settings),
    ...(tools.length ? { tools, toolChoice: { type: 'auto' as const } } : {}),
    // The client decides about retries (it is told not to once a tool ran): no hidden repeats here.
    abortSignal: signal,
  };

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
            const o: Outcome = { id: c.id, name: c.name, error: c.error };
            outputs.push(o);
            yield toolEnd(o);
          }
        } else end = part;
      }
      const { content, finishReason, usage: used } = end as StepEnd; // a step's last part
      usage.prompt += used.inputTokens.total ?? 0;
      usage.completion += used.outputTokens.total ?? 0;
      // Tools run once the step has finished, all at once, and only when the model stopped to call them (not
      // when it ran out of tokens, for instance); results are reported as they come. A call parsed without error
      // names a server or a client tool (their names cannot clash).
      const runs = new Map<string, Promise<Outcome>>();
      if (finishReason.unified === 'stop' || finishReason.unified === 'tool-calls')
        for (const c of calls)
          if (c.error === undefined && !clientNames.has(c.name)) runs.set(c.id, serverTools.run(c));
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
    const stopped = serverTools.stopped;
    throw stopped ? stopped.reason : signal.aborted ? (signal.reason ?? err) : err;
  }
}

/** The model's view of the turn's tools: the assistant's (run here) and the request's own (handed back). */
function functionTools(input: TurnInput): LanguageModelV3FunctionTool[] {
  return [
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
}

/**
 * The turn's server tool calls, run through the registry: each call's text for the model (a ToolError is text
 * the model can act on; anything else fails the call). A refused `beforeTool` aborts the turn and is kept in
 * `stopped`, the error the turn ends with.
 */
class ServerToolRuns {
  stopped: TurnStopped | null = null;

  constructor(
    private readonly input: TurnInput,
    private readonly signal: AbortSignal,
    private readonly stop: AbortController,
  ) {}

  async run(c: ParsedCall): Promise<Outcome> {
    try {
      await this.input.beforeTool();
    } catch (err) {
      this.stopped = new TurnStopped(err);
      this.stop.abort(this.stopped);
      return { id: c.id, name: c.name, error: this.stopped };
    }
    const started = performance.now();
    let output: string;
    let isError: boolean;
    try {
      const result = await this.input.registry.call(c.name, c.input, {
        ...this.input.toolContext,
        signal: this.signal,
      });
      output = asToolResultText(result);
      isError = result.isError === true;
    } catch (err) {
      if (!(err instanceof ToolError)) return { id: c.id, name: c.name, error: err };
      output = `Error: ${err.message}`;
      isError = true;
    }
    return { id: c.id, name: c.name, output, isError, ms: Math.round(performance.now() - started) };
  }
}

/** A call's `tool-end` event: the tool's text, or a failure whose detail went to the model only. */
function toolEnd(o: Outcome): TurnEvent {
  return 'output' in o
    ? { type: 'tool-end', id: o.id, name: o.name, result: o.output, isError: o.isError, ms: o.ms }
    : { type: 'tool-end', id: o.id, name: o.name, result: 'Error: the tool failed', isError: true, ms: 0 };
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
