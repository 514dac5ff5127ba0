import { AppError, type ErrorKind } from '../shared/errors.js';

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

/** Each domain error kind as the tool error a model can act on. */
const TOOL_CODE_OF_KIND: Readonly<Record<ErrorKind, ToolErrorCode | null>> = {
  not_found: 'not_found',
  forbidden: 'forbidden',
  unauthenticated: 'forbidden',
  invalid_input: 'invalid_input',
  conflict: 'invalid_input',
  too_large: 'invalid_input',
  unsupported_media_type: 'invalid_input',
  unprocessable: 'invalid_input',
  rate_limited: 'unavailable',
  unavailable: 'unavailable',
  // A broken invariant is the operator's business: logged by the caller, not described to a model.
  internal: null,
};

/**
 * A service's domain error (or any other failure) as a ToolError, by its kind: what a model can act on keeps its
 * message; anything unexpected becomes `internal` (null here, for the caller to log first).
 */
export function asToolError(err: unknown): ToolError | null {
  if (err instanceof ToolError) return err;
  if (!(err instanceof AppError)) return null;
  const code = TOOL_CODE_OF_KIND[err.kind];
  return code ? new ToolError(code, err.message) : null;
}
