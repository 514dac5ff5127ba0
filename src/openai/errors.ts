import { APICallError } from '@ai-sdk/provider';
import { toOpenAiError as domainToOpenAi } from '../http/index.js';

/** An error in OpenAI's shape, as the `openai` SDKs and other OpenAI clients read it. */
export interface OpenAiError {
  status: number;
  message: string;
  type: string;
  code: string;
  param: string | null;
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};

export const openAiError = (
  status: number,
  code: string,
  message: string,
  param: string | null = null,
): OpenAiError => ({ status, code, message, param, type: TYPE_BY_STATUS[status] ?? 'server_error' });

export const modelNotFound = (model: string) =>
  openAiError(
    404,
    'model_not_found',
    `The model \`${model}\` does not exist or you do not have access to it.`,
    'model',
  );

/** The body of an error answer or of a mid-stream `data:` error event. */
export const errorBody = (e: OpenAiError) => ({
  error: { message: e.message, type: e.type, param: e.param, code: e.code },
});

/**
 * Any failure of a turn as an OpenAI error. A provider's answer keeps its status class (429 stays 429, so clients
 * back off; anything else is 502 `provider_error`) without its body, which may echo request details; our own
 * domain errors are mapped by kind as everywhere (`toOpenAiError` of `http/`), the rest is a 500 that says
 * nothing of internals.
 */
export function toOpenAiError(err: unknown): OpenAiError {
  if (err instanceof OpenAiTurnError) return err.error;
  if (err instanceof DOMException && err.name === 'TimeoutError')
    return openAiError(
      504,
      'turn_timeout',
      'The turn took longer than this server allows (ASSISTANT_TURN_TIMEOUT)',
    );
  const apiError = APICallError.isInstance(err)
    ? err
    : APICallError.isInstance((err as { lastError?: unknown })?.lastError)
      ? ((err as { lastError: APICallError }).lastError as APICallError)
      : null;
  if (apiError) {
    const status = apiError.statusCode;
    if (status === 429)
      return openAiError(429, 'provider_rate_limited', 'The model provider is rate limiting requests');
    return openAiError(
      502,
      'provider_error',
      status ? `The model provider answered ${status}` : 'The model provider could not be reached',
    );
  }
  // Our own errors (and the database being away) as the HTTP edge's mapper says, by kind.
  const mapped = domainToOpenAi(err);
  const details = (err as { details?: { code?: string } }).details;
  const { message, type, param, code } = mapped.body.error;
  return { status: mapped.status, message, type, param, code: details?.code ?? code ?? 'internal_error' };
}

/** Thrown inside a turn to end it with a specific OpenAI error. */
export class OpenAiTurnError extends Error {
  constructor(readonly error: OpenAiError) {
    super(error.message);
  }
}
