import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { tables, type Executor } from '../db/index.js';
import { decodeCursor, toPage, type Page } from '../shared/pagination.js';

export interface AuditEntry {
  actorId: string | null;
  action: string;
  target?: string | null;
  result: 'success' | 'failure';
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
 * commit or roll back together.
 */
export async function recordAudit(exec: Executor, entry: AuditEntry): Promise<void> {
  await exec.insert(tables.auditEvents).values({
    actorId: entry.actorId,
    action: entry.action,
    target: entry.target ?? null,
    result: entry.result,
    ip: entry.ip ?? null,
    details: entry.details ?? null,
  });
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
