/**
 * Domain errors: what went wrong, by kind and code, with no transport in them. Services throw them (through the
 * factories below or the typed classes); each edge maps the kind: the HTTP envelope (`http/errors.ts`), MCP tool
 * results (`tools/errors.ts` → `isError`), the OpenAI error format (`http/openai-errors.ts`). Nothing maps by
 * message text. `details` must never carry secrets.
 */
export type ErrorKind =
  | 'invalid_input'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'unsupported_media_type'
  | 'unprocessable'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

/**
 * The conventional HTTP status of each kind. The HTTP edge answers with it; other edges ignore it. It lives here
 * (not in `http/`) only so that `AppError.status` below can derive from the same table.
 */
export const HTTP_STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

const KIND_OF_STATUS = new Map(
  Object.entries(HTTP_STATUS_OF_KIND).map(([kind, status]) => [status, kind as ErrorKind]),
);

/**
 * The base of every domain error. `code` is the stable machine-readable name clients see; `kind` is what edges
 * map. New code throws the typed classes below or the factories; the status-first form
 * (`new AppError(503, code, message)`) is accepted only for callers written before kinds existed.
 */
export class AppError extends Error {
  readonly kind: ErrorKind;
  constructor(
    kindOrStatus: ErrorKind | number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
    this.kind =
      typeof kindOrStatus === 'string' ? kindOrStatus : (KIND_OF_STATUS.get(kindOrStatus) ?? 'internal');
  }

  /** Derived from the kind, read-only: kept for callers that log or compare it; edges map `kind`. */
  get status(): number {
    return HTTP_STATUS_OF_KIND[this.kind];
  }

  /** Seconds after which a retry may succeed (rate limits, unavailable dependencies), if the thrower knows. */
  get retryAfterSeconds(): number | undefined {
    const retry = (this.details as { retry_after?: unknown } | undefined)?.retry_after;
    return typeof retry === 'number' && retry > 0 ? retry : undefined;
  }
}

/** A typed error class of one kind, in the spirit of the MCP SDK's typed errors: `instanceof` tells the kind. */
const errorOfKind = <K extends ErrorKind>(kind: K) =>
  class extends AppError {
    declare readonly kind: K;
    constructor(code: string, message: string, details?: unknown) {
      super(kind, code, message, details);
    }
  };

export class InvalidInputError extends errorOfKind('invalid_input') {}
export class UnauthenticatedError extends errorOfKind('unauthenticated') {}
export class ForbiddenError extends errorOfKind('forbidden') {}
export class NotFoundError extends errorOfKind('not_found') {}
export class ConflictError extends errorOfKind('conflict') {}
export class PayloadTooLargeError extends errorOfKind('too_large') {}
export class UnsupportedMediaTypeError extends errorOfKind('unsupported_media_type') {}
export class UnprocessableError extends errorOfKind('unprocessable') {}
export class RateLimitedError extends errorOfKind('rate_limited') {}
export class UnavailableError extends errorOfKind('unavailable') {}
/** A broken invariant the operator must fix (e.g. stored bytes that fail their digest); told, not hidden. */
export class InternalError extends errorOfKind('internal') {}

export const badRequest = (message: string, details?: unknown) =>
  new InvalidInputError('bad_request', message, details);
export const unauthorized = (message = 'Authentication required') =>
  new UnauthenticatedError('unauthorized', message);
export const forbidden = (message = 'Not allowed') => new ForbiddenError('forbidden', message);
export const notFound = (message = 'Not found') => new NotFoundError('not_found', message);
export const conflict = (message: string, details?: unknown) =>
  new ConflictError('conflict', message, details);
export const payloadTooLarge = (message: string, details?: unknown) =>
  new PayloadTooLargeError('payload_too_large', message, details);
export const unprocessable = (code: string, message: string, details?: unknown) =>
  new UnprocessableError(code, message, details);
export const tooManyRequests = (message: string, retryAfterSeconds?: number) =>
  new RateLimitedError(
    'rate_limited',
    message,
    retryAfterSeconds ? { retry_after: retryAfterSeconds } : undefined,
  );
/** A dependency (database, Redis, the sandbox) cannot serve now; `code` names it, e.g. `sandbox_unavailable`. */
export const unavailable = (code: string, message: string, retryAfterSeconds?: number) =>
  new UnavailableError(code, message, retryAfterSeconds ? { retry_after: retryAfterSeconds } : undefined);
