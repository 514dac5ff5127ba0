import { AppError } from '../shared/errors.js';

/**
 * What a tool reports when it cannot do what it was asked, by kind. Edges map the code, never the message text:
 * MCP turns every ToolError into an `isError` result carrying the message (written for a model to act on);
 * an OpenAI-style edge can map the code to its own error shape.
 */
export type ToolErrorCode = 'not_found' | 'invalid_input' | 'forbidden' | 'unavailable' | 'internal';

export class ToolError extends Error {
  constructor(
    readonly code: ToolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** The message of an unexpected failure: its details go to the log, never to the caller. */
export const INTERNAL_ERROR_MESSAGE = 'Internal error while running the tool; try again later.';

/**
 * A service's `AppError` (or any other failure) as a ToolError, by its status: what a model can act on keeps its
 * message; anything unexpected becomes `internal` (null here, for the caller to log first).
 */
export function asToolError(err: unknown): ToolError | null {
  if (err instanceof ToolError) return err;
  if (!(err instanceof AppError)) return null;
  const code: ToolErrorCode =
    err.status === 404
      ? 'not_found'
      : err.status === 403
        ? 'forbidden'
        : err.status === 429 || err.status >= 500
          ? 'unavailable'
          : 'invalid_input';
  return new ToolError(code, err.message);
}
