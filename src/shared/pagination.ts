import type { z } from 'zod';
import { badRequest } from './errors.js';
import { findUnsafeText } from './text.js';

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Cursors are opaque to clients: base64url JSON of the last row's sort key. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * The decoded sort key, checked against `shape` (whose ids should be `z.uuid()` and numbers bounded, so that
 * nothing odd reaches SQL) and for text the database cannot hold; anything else is a 400.
 */
export function decodeCursor<T>(cursor: string | undefined, shape: z.ZodType<T>): T | undefined {
  if (!cursor) return undefined;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (findUnsafeText(key)) throw new Error('unstorable text');
    return shape.parse(key);
  } catch {
    throw badRequest('Invalid cursor', {
      fields: [{ path: 'cursor', message: 'not a cursor from this API' }],
    });
  }
}

/** Given limit+1 fetched rows, cuts the page and derives the next cursor from its last row. */
export function toPage<R, T>(rows: R[], limit: number, map: (r: R) => T, keyOf: (r: R) => unknown): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return {
    items: pageRows.map(map),
    next_cursor: hasMore && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
