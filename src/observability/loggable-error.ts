/**
 * What an unexpected error may put in a log line. Drizzle's query errors carry the bound parameters (in
 * `params` and in the message: password hashes, token hashes, emails), so only the SQL text, the SQLSTATE and
 * the messages of the cause chain are kept, each with any `params:` part cut off.
 */
export function loggableError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err, message: 'non-Error value thrown' };
  const e = err as Error & { code?: unknown; query?: unknown; cause?: unknown };
  const message = e.message.replace(/\nparams: [\s\S]*$/, '\n[params redacted]');
  const out: Record<string, unknown> = { type: e.name, message };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.query === 'string') out.query = e.query;
  if (e.stack) {
    // The stack starts with "<name>: <message>"; keep only its frames after the redacted message.
    const head = `${e.name}: ${e.message}`;
    const rest = e.stack.startsWith(head)
      ? e.stack.slice(head.length)
      : e.stack.slice(Math.max(0, e.stack.indexOf('\n    at ')));
    out.stack = `${e.name}: ${message}${rest.startsWith('\n') ? rest : ''}`;
  }
  if (e.cause !== undefined && depth < 4) out.cause = loggableError(e.cause, depth + 1);
  return out;
}
