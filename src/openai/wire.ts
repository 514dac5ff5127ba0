import { randomBytes } from 'node:crypto';

/** Builds the chunks and the completion of one response, all with the same id, `created` and model. */
export class CompletionWire {
  readonly id = `chatcmpl-${randomBytes(12).toString('base64url')}`;
  readonly created = Math.floor(Date.now() / 1000);

  constructor(
    readonly model: string,
    /** With `include_usage`, every chunk carries `usage: null` and a last chunk the totals. */
    readonly includeUsage: boolean,
  ) {}

  /** What every object of this response starts with. */
  private head(object: 'chat.completion' | 'chat.completion.chunk') {
    return { id: this.id, object, created: this.created, model: this.model, system_fingerprint: null };
  }

  chunk(delta: Record<string, unknown>, finishReason: string | null = null) {
    return {
      ...this.head('chat.completion.chunk'),
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(this.includeUsage ? { usage: null } : {}),
    };
  }

  /** A chunk with no choices: the usage totals, or (opt-in) a Skillport tool event. */
  emptyChunk(extra: Record<string, unknown>) {
    return { ...this.head('chat.completion.chunk'), choices: [], ...extra };
  }

  completion(
    message: Record<string, unknown>,
    finishReason: string,
    usage: Usage,
    extra: Record<string, unknown> = {},
  ) {
    return {
      ...this.head('chat.completion'),
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      usage: usageOf(usage),
      ...extra,
    };
  }
}

export interface Usage {
  prompt: number;
  completion: number;
}

export const usageOf = (u: Usage) => ({
  prompt_tokens: u.prompt,
  completion_tokens: u.completion,
  total_tokens: u.prompt + u.completion,
});

export const sseData = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
