/** Drizzle wraps driver errors; both pg and PGlite expose the SQLSTATE as `code` somewhere in the chain. */
function sqlState(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const isUniqueViolation = (err: unknown): boolean => sqlState(err) === '23505';

export function violatedConstraint(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const c = (e as { constraint?: unknown }).constraint;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

/** The database cannot serve right now (down, restarting, frozen, overloaded): the request may be retried. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  constructor(cause?: unknown) {
    super('The database is unavailable', { cause });
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
const DRIVER_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client was closed|Client has encountered a connection error|not queryable|PGlite is clos(ed|ing)/i;

/**
 * True for errors that mean the database is gone: network errors, the drivers' own messages, SQLSTATE class 08
 * (connection exception) and 57P01–57P03 (shutdown, crash, not accepting connections yet), and an embedded
 * PGlite that was closed or whose WebAssembly engine aborted.
 */
export function isConnectionLoss(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailableError || e instanceof WebAssembly.RuntimeError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || /^08|^57P0[1-3]$/.test(code))) return true;
    if (e instanceof Error && DRIVER_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/**
 * True when a request failed because the database could not serve it (→ 503, retry later) rather than because
 * of the request: a lost connection, no free connection in time, too many connections, a statement timeout.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  return isConnectionLoss(err) || state === '53300' || state === '57014';
}
