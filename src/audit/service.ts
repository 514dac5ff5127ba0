import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { tables, type Executor } from '../db/index.js';
import { decodeCursor, toPage, type Page } from '../shared/pagination.js';
import { toStorableText, toStorableValue } from '../shared/text.js';

export interface AuditEntry {
  actorId: string | null;
  action: string;
  target?: string | null;
  /** `started`: an action recorded before it runs (a command), completed by `completeAudit`. */
  result: 'success' | 'failure' | 'started';
  ip?: string | null;
  /** Never secrets or argument values that might hold them. */
  details?: Record<string, unknown>;
}

export interface AuditEventView {
  id: number;
  actor_id: string | null;
  action: string;
  target: string | null;
  result: string;
  ip: string | null;
  details: Record<string, unknown> | null;
  created_at: string;
}

/**
 * Records security events. Callers pass the transaction that makes the change, so the event and the change
 * commit or roll back together. Returns the event's id.
 *
 * Text is made storable here, in one place (NUL and lone surrogates replaced, see toStorableText): a record
 * must never fail because of what a caller typed.
 */
export async function recordAudit(exec: Executor, entry: AuditEntry): Promise<number> {
  const [row] = await exec
    .insert(tables.auditEvents)
    .values({
      actorId: entry.actorId,
      action: toStorableText(entry.action),
      target: entry.target == null ? null : toStorableText(entry.target),
      result: entry.result,
      ip: entry.ip == null ? null : toStorableText(entry.ip),
      details: entry.details ? toStorableValue(entry.details) : null,
    })
    .returning({ id: tables.auditEvents.id });
  return row!.id;
}

/** Completes an event recorded as `started`: its outcome and the full details. */
export async function completeAudit(
  exec: Executor,
  id: number,
  outcome: { result: 'success' | 'failure'; details: Record<string, unknown> },
): Promise<void> {
  await exec
    .update(tables.auditEvents)
    .set({ result: outcome.result, details: toStorableValue(outcome.details) })
    .where(eq(tables.auditEvents.id, id));
}

export async function listAudit(
  exec: Executor,
  query: { actorId?: string; cursor?: string; limit: number },
): Promise<Page<AuditEventView>> {
  const after = decodeCursor(query.cursor, z.number().int());
  const where: SQL[] = [];
  if (query.actorId) where.push(eq(tables.auditEvents.actorId, query.actorId));
  if (after !== undefined) where.push(lt(tables.auditEvents.id, after));
  const rows = await exec
    .select()
    .from(tables.auditEvents)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(tables.auditEvents.id))
    .limit(query.limit + 1);
  return toPage(
    rows,
    query.limit,
    (r) => ({
      id: r.id,
      actor_id: r.actorId,
      action: r.action,
      target: r.target,
      result: r.result,
      ip: r.ip,
      details: r.details ?? null,
      created_at: r.createdAt.toISOString(),
    }),
    (r) => r.id,
  );
}
