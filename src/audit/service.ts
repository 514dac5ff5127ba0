import { authorize, may } from '../authz/index.js';
import type { Principal } from '../shared/principal.js';
import { and, desc, eq, gte, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
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

export interface AuditActor {
  id: string;
  username: string;
  email: string;
}

export interface AuditEventView {
  id: number;
  actor_id: string | null;
  /** Null when there is no actor (a failed sign-in to an unknown account) or the account was deleted. */
  actor: AuditActor | null;
  action: string;
  target: string | null;
  /** The name of the user, skill or token the target points at; null when it is gone or not one of those. */
  target_label: string | null;
  result: string;
  ip: string | null;
  details: Record<string, unknown> | null;
  created_at: string;
}

export interface AuditQuery {
  /** Only events by this user. */
  actorId?: string;
  /** An exact action, or a dotted prefix: `auth` matches `auth.login` and `auth.logout`. */
  action?: string;
  result?: AuditEntry['result'];
  /** An exact target, e.g. `user:<id>` or `skill:<id>`. */
  target?: string;
  since?: Date;
  until?: Date;
  cursor?: string;
  limit: number;
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

const events = tables.auditEvents;
const actor = alias(tables.users, 'actor');
const targetUser = alias(tables.users, 'target_user');
const targetSkill = tables.skills;
const targetToken = tables.apiTokens;

/** The id in a `<kind>:<uuid>` target, or NULL (never a cast error) when the target is anything else. */
const targetId = (kind: string): SQL =>
  sql`CASE WHEN ${events.target} ~ ${`^${kind}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`}
    THEN substr(${events.target}, ${kind.length + 2})::uuid END`;

function filters(query: AuditQuery, after: number | undefined): SQL | undefined {
  const where: SQL[] = [];
  if (query.actorId) where.push(eq(events.actorId, query.actorId));
  if (query.action) {
    where.push(
      or(
        eq(events.action, query.action),
        sql`left(${events.action}, ${query.action.length + 1}) = ${`${query.action}.`}`,
      )!,
    );
  }
  if (query.result) where.push(eq(events.result, query.result));
  if (query.target) where.push(eq(events.target, query.target));
  if (query.since) where.push(gte(events.createdAt, query.since));
  if (query.until) where.push(lte(events.createdAt, query.until));
  if (after !== undefined) where.push(lt(events.id, after));
  return where.length ? and(...where) : undefined;
}

/** A `skill:<name>` target (command runs name the skill they ran) is its own label. */
function labelOf(target: string | null, resolved: string | null): string | null {
  if (resolved !== null || target === null) return resolved;
  const m = /^skill:(.+)$/.exec(target);
  return m && !/^[0-9a-f-]{36}$/.test(m[1]!) ? m[1]! : null;
}

/**
 * One page of the events `viewer` may read, newest first: their own, or — for an administrator — everyone's
 * (narrowed by `actorId` if given). The actor's and the target's names are resolved by joins in the same query
 * (no lookups per row).
 */
export async function listAudit(
  exec: Executor,
  viewer: Principal,
  filter: AuditQuery,
): Promise<Page<AuditEventView>> {
  authorize(viewer, 'audit.list');
  const query = may(viewer, 'audit.list-all') ? filter : { ...filter, actorId: viewer.userId };
  const after = decodeCursor(query.cursor, z.number().int());
  const rows = await exec
    .select({
      event: events,
      actorUsername: actor.username,
      actorEmail: actor.email,
      label: sql<string | null>`coalesce(${targetUser.username}, ${targetSkill.name}, ${targetToken.name})`,
    })
    .from(events)
    .leftJoin(actor, eq(actor.id, events.actorId))
    .leftJoin(targetUser, eq(targetUser.id, targetId('user')))
    .leftJoin(targetSkill, eq(targetSkill.id, targetId('skill')))
    .leftJoin(targetToken, eq(targetToken.id, targetId('token')))
    .where(filters(query, after))
    .orderBy(desc(events.id))
    .limit(query.limit + 1);
  return toPage(
    rows,
    query.limit,
    ({ event: r, actorUsername, actorEmail, label }) => ({
      id: r.id,
      actor_id: r.actorId,
      actor:
        r.actorId && actorUsername !== null && actorEmail !== null
          ? { id: r.actorId, username: actorUsername, email: actorEmail }
          : null,
      action: r.action,
      target: r.target,
      target_label: labelOf(r.target, label),
      result: r.result,
      ip: r.ip,
      details: r.details ?? null,
      created_at: r.createdAt.toISOString(),
    }),
    ({ event: r }) => r.id,
  );
}
