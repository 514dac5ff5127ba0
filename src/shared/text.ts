import { type AppError, InvalidInputError } from './errors.js';

/**
 * Text every store can hold. PostgreSQL `text` cannot contain NUL, `jsonb` refuses `\u0000` and lone UTF-16
 * surrogates (`\ud800` has no UTF-8 form), so such strings are refused where input arrives instead of failing
 * later as a database error. One definition, used by the HTTP validation hook, cursors, the MCP tools and
 * SKILL.md parsing.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export type TextProblem = 'nul' | 'lone_surrogate' | 'circular';

export interface UnsafeText {
  /** Dotted path to the offending value or key ("" for the value itself). */
  path: string;
  problem: TextProblem;
}

const PROBLEM_TEXT: Record<TextProblem, string> = {
  nul: 'must not contain a NUL character',
  lone_surrogate: 'must not contain a lone UTF-16 surrogate (not valid Unicode)',
  circular: 'must not refer to itself',
};

export const describeTextProblem = (problem: TextProblem): string => PROBLEM_TEXT[problem];

/** The first problem in one string and where it is, if any. */
export function findTextProblem(s: string): { problem: TextProblem; index: number } | undefined {
  const m = UNSTORABLE.exec(s);
  if (!m) return undefined;
  return { problem: m[0] === '\u0000' ? 'nul' : 'lone_surrogate', index: m.index };
}

export const textProblem = (s: string): TextProblem | undefined => findTextProblem(s)?.problem;

/**
 * The first string (value or object key) anywhere in `value` that cannot be stored, or a structure that
 * contains itself (a YAML alias can build one; it cannot be serialised). Null when everything is storable.
 * Iterative, so that a body nested a million levels deep is walked, not a stack overflow.
 */
export function findUnsafeText(value: unknown, path: string[] = []): UnsafeText | null {
  interface Frame {
    value: unknown;
    key: string | null;
    parent: Frame | null;
    /** Set on the marker that takes a container off the ancestor set once its children are done. */
    leaving?: object;
  }
  const pathOf = (frame: Frame | null, key?: string): string => {
    const keys = key === undefined ? [] : [key];
    for (let f = frame; f; f = f.parent) if (f.key !== null) keys.push(f.key);
    return [...path, ...keys.reverse()].join('.');
  };
  const ancestors = new Set<object>();
  const stack: Frame[] = [{ value, key: null, parent: null }];
  while (stack.length) {
    const frame = stack.pop()!;
    if (frame.leaving) {
      ancestors.delete(frame.leaving);
      continue;
    }
    const v = frame.value;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return { path: pathOf(frame), problem };
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (ancestors.has(v)) return { path: pathOf(frame), problem: 'circular' };
    ancestors.add(v);
    stack.push({ value: null, key: null, parent: null, leaving: v });
    const entries: Array<[string, unknown]> =
      v instanceof Map
        ? [...v.entries()].map(([k, child]) => [String(k), child])
        : Array.isArray(v)
          ? v.map((child, i) => [String(i), child])
          : Object.entries(v);
    for (const [key] of entries) {
      const problem = textProblem(key);
      if (problem) return { path: pathOf(frame, key), problem };
    }
    // Reversed, so that children are visited in input order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      stack.push({ value: child, key, parent: frame });
    }
  }
  return null;
}

/** Longest field name an error message repeats (a path can be as deep as the input is nested). */
export const MAX_FIELD_NAME = 200;

/** A printable, bounded name for a path that may itself hold the bad characters. */
export function printablePath(path: string): string {
  const printable = JSON.stringify(toStorableText(path)).slice(1, -1);
  return printable.length > MAX_FIELD_NAME ? `${printable.slice(0, MAX_FIELD_NAME - 1)}…` : printable;
}

/**
 * Replaces NUL with U+2400 (␀) and each lone surrogate with U+FFFD, so that recorded text (audit details) is
 * always storable and a reader still sees where something odd was.
 */
export function toStorableText(s: string): string {
  if (!UNSTORABLE.test(s)) return s;
  return s.replace(new RegExp(UNSTORABLE.source, 'g'), (m) => (m === '\u0000' ? '\u2400' : '\ufffd'));
}

/** A copy of a JSON-like value with every string and key made storable (see toStorableText). */
export function toStorableValue<T>(value: T): T {
  if (typeof value === 'string') return toStorableText(value) as T;
  if (Array.isArray(value)) return value.map((v) => toStorableValue(v)) as T;
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [toStorableText(k), toStorableValue(v)]),
    ) as T;
  }
  return value;
}

/**
 * Throws 400 `invalid_input` naming the field when `value` holds text that cannot be stored. `where` says which
 * part of the input it is ("body", "query", "path", "cursor", an argument list…).
 */
export function assertStorableInput(value: unknown, where: string): void {
  const found = findUnsafeText(value);
  if (found) throw invalidInput(where, found);
}

export function invalidInput(where: string, found: UnsafeText): AppError {
  const field = found.path ? printablePath(found.path) : `(${where})`;
  const message = describeTextProblem(found.problem);
  return new InvalidInputError('invalid_input', `Invalid request: ${where} field ${field} ${message}`, {
    fields: [{ path: field, in: where, message }],
  });
}
