import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { isDatabaseUnavailable } from '../db/index.js';
import { loggableError } from '../observability/index.js';
import { AppError, HTTP_STATUS_OF_KIND } from '../shared/errors.js';
import { findUnsafeText, invalidInput } from '../shared/text.js';
import type { AppEnv } from './types.js';

interface ErrorEnvelope {
  success: false;
  error: { code: string; message: string; details?: unknown };
  timestamp: string;
}

/** The REST error envelope. */
export function errorBody(code: string, message: string, details?: unknown): ErrorEnvelope {
  return {
    success: false,
    error: details === undefined ? { code, message } : { code, message, details },
    timestamp: new Date().toISOString(),
  };
}

export function errorResponse(
  c: Context,
  status: number,
  code: string,
  message: string,
  details?: unknown,
): Response {
  return c.json(errorBody(code, message, details), status as ContentfulStatusCode);
}

function validationFields(error: ZodError) {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}

/** Where each validator target sits in a request, as error messages name it. */
const INPUT_PART: Record<string, string> = { json: 'body', form: 'body', param: 'path', query: 'query' };

/**
 * Validation hook for every zod-openapi route: one envelope listing the offending fields. Before the schema's
 * verdict, every decoded string of the input (values and keys, at any depth) is checked to be storable text
 * (no NUL, no lone surrogate): 400 `invalid_input` naming the field, instead of a database error later.
 */
export function validationHook(
  result:
    | { success: true; data?: unknown; target?: string }
    | { success: false; error: ZodError; data?: unknown; target?: string },
  c: Context,
): Response | undefined {
  const unsafe = findUnsafeText(result.data);
  if (unsafe) {
    return domainErrorResponse(
      c,
      invalidInput(INPUT_PART[result.target ?? ''] ?? result.target ?? 'input', unsafe),
    );
  }
  if (result.success) return undefined;
  const fields = validationFields(result.error);
  return errorResponse(
    c,
    400,
    'validation_error',
    `Invalid request: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`,
    { fields },
  );
}

/** A domain error as the envelope: the status by its kind, `Retry-After` when the thrower knows when to retry. */
export function domainErrorResponse(c: Context, err: AppError): Response {
  const retry = err.retryAfterSeconds;
  if (retry && (err.kind === 'rate_limited' || err.kind === 'unavailable'))
    c.header('Retry-After', String(retry));
  return errorResponse(c, HTTP_STATUS_OF_KIND[err.kind], err.code, err.message, err.details);
}

/** Turns any thrown value into the envelope. Unknown errors are logged and answered without internals. */
export function handleError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof AppError) return domainErrorResponse(c, err);
  if (err instanceof HTTPException) {
    const status = err.status;
    // Hono's JSON validator reports a body that does not parse as a 400 HTTPException.
    if (status === 400 && /malformed json/i.test(err.message)) {
      return errorResponse(c, 400, 'invalid_json', 'Request body is not valid JSON');
    }
    return errorResponse(c, status, HTTP_CODES[status] ?? 'http_error', err.message || 'Request failed');
  }
  if (err instanceof SyntaxError)
    return errorResponse(c, 400, 'invalid_json', 'Request body is not valid JSON');
  if (isDatabaseUnavailable(err)) {
    // Logged once per outage by the database pool, not once per request.
    c.header('Retry-After', '2');
    return errorResponse(c, 503, 'database_unavailable', 'The database is unavailable; try again shortly');
  }
  c.get('log')?.error({ err: loggableError(err) }, 'unhandled error');
  return errorResponse(c, 500, 'internal_error', 'Internal server error');
}

const HTTP_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};
