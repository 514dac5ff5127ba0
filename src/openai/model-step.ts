// One model call of a chat turn's loop (loop.ts), through the provider's LanguageModelV3: streamed (`doStream`)
// or whole (`doGenerate`), read into the same parts: text, completed tool calls, then the step's end.
import type { ModelMessage } from 'ai';
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3FinishReason,
  LanguageModelV3StreamPart,
  LanguageModelV3ToolCall,
  LanguageModelV3Usage,
  SharedV3Warning,
} from '@ai-sdk/provider';

/** One part of an assistant message, as the next step's prompt carries it. */
export type AssistantPart = Exclude<Extract<ModelMessage, { role: 'assistant' }>['content'], string>[number];
/** What a step keeps of the model's words for the next step's prompt. */
export type KeptPart = Extract<AssistantPart, { type: 'text' | 'reasoning' }>;

/** The end of one model call: what it said (in order; tool calls by id) and why it stopped. */
export interface StepEnd {
  type: 'end';
  content: Array<KeptPart | { type: 'tool-call'; toolCallId: string }>;
  finishReason: LanguageModelV3FinishReason;
  usage: LanguageModelV3Usage;
}
export type StepPart = { type: 'text'; text: string } | LanguageModelV3ToolCall | StepEnd;

/**
 * One streamed model call: text as it comes, tool calls as they complete, then the step's content. Text and
 * reasoning are kept per part, with the provider's metadata (a reasoning signature must go back with it).
 */
export async function* streamedStep(
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
export async function* generatedStep(
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
