import { and, eq, gt, lt, or, sql, type Column, type SQL } from 'drizzle-orm';
import { z } from 'zod';

/**
 * Keyset pagination over (created_at, id). PostgreSQL keeps microseconds but a JS Date only milliseconds, so
 * the cursor carries the timestamp as text formatted by the database itself; a cursor built from a Date would
 * repeat or skip rows created within the same millisecond.
 */
const MICROSECOND_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Shape of a decoded (created_at, id) cursor; anything else is refused before it reaches SQL. */
export const timeIdCursor = z.tuple([z.string().regex(MICROSECOND_UTC), z.uuid()]);
export type TimeIdCursor = z.infer<typeof timeIdCursor>;

/** Select this next to the row to build its cursor: the column as UTC text with microseconds. */
export const cursorTime = (column: Column): SQL<string> =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Rows after the cursor in `(createdAt, id)` order, ascending or descending. */
export function afterTimeId(createdAt: Column, id: Column, cursor: TimeIdCursor, order: 'asc' | 'desc'): SQL {
  const at = sql`${cursor[0]}::timestamptz`;
  const beyond = order === 'asc' ? gt : lt;
  return or(beyond(createdAt, at), and(eq(createdAt, at), beyond(id, cursor[1])))!;
}
