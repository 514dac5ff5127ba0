import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { AppError } from '../shared/errors.js';
import type { AppEnv } from './types.js';

export interface ErrorEnvelope {
  success: false;
  error: { code: string; message: string; details?: unknown };
  timestamp: string;
}

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

export function validationFields(error: ZodError) {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}

/** Validation hook for every zod-openapi route: one envelope listing the offending fields. */
export function validationHook(
  result: { success: true } | { success: false; error: ZodError },
  c: Context,
): Response | undefined {
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

/** Turns any thrown value into the envelope. Unknown errors are logged and answered without internals. */
export function handleError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof AppError) {
    if (err.status === 429) {
      const retry = (err.details as { retry_after?: number } | undefined)?.retry_after;
      if (retry) c.header('Retry-After', String(retry));
    }
    return errorResponse(c, err.status, err.code, err.message, err.details);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? 'payload_too_large' : status === 404 ? 'not_found' : 'http_error';
    return errorResponse(c, status, code, err.message || 'Request failed');
  }
  if (err instanceof SyntaxError) return errorResponse(c, 400, 'invalid_json', 'Request body is not valid JSON');
  c.get('log')?.error({ err }, 'unhandled error');
  return errorResponse(c, 500, 'internal_error', 'Internal server error');
}
