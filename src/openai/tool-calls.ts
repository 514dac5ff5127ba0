// The model's tool calls in a chat turn's loop (loop.ts): their input parsed as the AI SDK parses it, and a
// finished step written as the messages the next step's prompt carries (the assistant's calls, then the results).
import type * as Ai from 'ai';
import type { ModelMessage } from 'ai';
import { getErrorMessage, JSONParseError } from '@ai-sdk/provider';
import type {
  LanguageModelV3FunctionTool,
  LanguageModelV3ToolCall,
  SharedV3ProviderMetadata,
} from '@ai-sdk/provider';
import type { AssistantPart, StepEnd } from './model-step.js';

type ToolResultPart = Extract<
  Extract<ModelMessage, { role: 'tool' }>['content'][number],
  { type: 'tool-result' }
>;

/** A tool call of the model, its input parsed (`error` set when it names no tool or its input is not JSON). */
export interface ParsedCall {
  id: string;
  name: string;
  input: unknown;
  error?: unknown;
  providerMetadata?: SharedV3ProviderMetadata;
}

/**
 * What a tool call came to: the tool's text (whether it reports an error, how long the tool took), or the error
 * the model is told about.
 */
export type Outcome = { id: string; name: string } & (
  { output: string; isError: boolean; ms: number } | { error: unknown }
);

/**
 * A tool call's input as the AI SDK parses it: empty is `{}`, otherwise JSON (refusing `__proto__` keys, as the
 * SDK's parser does). A name no tool has, or input that does not parse, is an error the model is told about, in
 * the SDK's words.
 */
export async function parseCall(
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
export function stepMessages(
  content: StepEnd['content'],
  calls: ParsedCall[],
  outputs: Outcome[],
): ModelMessage[] {
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
  const outputById = new Map(outputs.map((o) => [o.id, o]));
  const results = calls.flatMap((c): ToolResultPart[] => {
    const o = outputById.get(c.id);
    if (!o) return []; // a client tool's call (the client answers it), or one the step's end left unrun
    return [
      {
        type: 'tool-result',
        toolCallId: o.id,
        toolName: o.name,
        output:
          'output' in o
            ? { type: 'text', value: o.output }
            : { type: 'error-text', value: getErrorMessage(o.error) },
        ...(c.error === undefined && c.providerMetadata ? { providerOptions: c.providerMetadata } : {}),
      },
    ];
  });
  return [
    ...(parts.length ? [{ role: 'assistant' as const, content: parts }] : []),
    ...(results.length ? [{ role: 'tool' as const, content: results }] : []),
  ];
}
