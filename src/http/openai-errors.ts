import { isDatabaseUnavailable } from '../db/index.js';
import { AppError, HTTP_STATUS_OF_KIND, type ErrorKind } from '../shared/errors.js';

/** The error body of the OpenAI API, which its SDKs parse: `{error: {message, type, param, code}}`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/**
 * What the OpenAI-compatible edge answers for a failure: the status, the body, `Retry-After` when known, and
 * whether a retry can help. The edge sends `x-should-retry: true|false` from `shouldRetry`, which the official
 * SDKs obey before their own rule (they would otherwise retry every 409 and 5xx, e.g. a conflict that will
 * never heal).
 */
export interface OpenAiError {
  status: number;
  body: OpenAiErrorBody;
  shouldRetry: boolean;
  retryAfterSeconds?: number;
}

/** Each domain error kind as an OpenAI error type (the names the OpenAI API uses). */
const TYPE_OF_KIND: Readonly<Record<ErrorKind, string>> = {
  invalid_input: 'invalid_request_error',
  unauthenticated: 'authentication_error',
  forbidden: 'permission_error',
  not_found: 'not_found_error',
  conflict: 'invalid_request_error',
  too_large: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  unprocessable: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  unavailable: 'server_error',
  internal: 'server_error',
};
const RETRYABLE: ReadonlySet<ErrorKind> = new Set(['rate_limited', 'unavailable']);

/**
 * Any thrown value as an OpenAI error. A domain error keeps its message and code, and names the first offending
 * field as `param` (from `details.fields`); an unexpected one is answered without internals (the caller logs it).
 */
export function toOpenAiError(err: unknown): OpenAiError {
  if (err instanceof AppError) {
    const retryAfterSeconds = err.retryAfterSeconds;
    return {
      status: HTTP_STATUS_OF_KIND[err.kind],
      body: body(err.message, TYPE_OF_KIND[err.kind], firstField(err.details), err.code),
      shouldRetry: RETRYABLE.has(err.kind),
      ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
    };
  }
  if (isDatabaseUnavailable(err)) {
    return {
      status: 503,
      body: body(
        'The database is unavailable; try again shortly',
        'server_error',
        null,
        'database_unavailable',
      ),
      shouldRetry: true,
      retryAfterSeconds: 2,
    };
  }
  return {
    status: 500,
    body: body('Internal server error', 'server_error', null, 'internal_error'),
    shouldRetry: false,
  };
}

const body = (message: string, type: string, param: string | null, code: string | null): OpenAiErrorBody => ({
  error: { message, type, param, code },
});

function firstField(details: unknown): string | null {
  const fields = (details as { fields?: Array<{ path?: unknown }> } | undefined)?.fields;
  const path = Array.isArray(fields) ? fields[0]?.path : undefined;
  return typeof path === 'string' ? path : null;
}
