import { and, desc, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { tables, type Database } from '../db/index.js';
import { conflict, notFound } from '../shared/errors.js';
import type { Principal } from '../shared/principal.js';

export interface SessionView {
  id: string;
  assistant_id: string;
  title: string;
  message_count: number;
  busy: boolean;
  created_at: string;
  updated_at: string;
  expires_at: string;
}

type Row = typeof tables.chatSessions.$inferSelect;

const toView = (r: Row): SessionView => ({
  id: r.id,
  assistant_id: r.assistantId,
  title: r.title,
  message_count: r.messages.length,
  busy: r.busyUntil !== null && r.busyUntil.getTime() > Date.now(),
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
  expires_at: r.expiresAt.toISOString(),
});

/** A session's turn in progress: its history so far, and how to end the turn. */
export interface SessionTurn {
  id: string;
  history: unknown[];
  /** Appends the turn's messages and frees the session. */
  commit(messages: unknown[], title: string): Promise<void>;
  /** Frees the session without changing its history (the turn failed or was cancelled). */
  release(): Promise<void>;
}

/**
 * Server-kept conversations: a client names one (`X-Skillport-Session`) and sends only its new messages. A
 * session is its creator's alone (another user's answers like a missing one) and bound to one assistant. One
 * turn runs at a time: `busy_until` is taken atomically, and expires after the turn budget, so a crashed
 * instance never leaves a session locked. Sessions expire `ttlMs` after their last turn.
 */
export class ChatSessions {
  constructor(
    private readonly db: Database,
    private readonly ttlMs: number,
    private readonly turnBudgetMs: number,
  ) {}

  async create(actor: Principal, assistantId: string): Promise<SessionView> {
    const [row] = await this.db
      .insert(tables.chatSessions)
      .values({ userId: actor.userId, assistantId, expiresAt: new Date(Date.now() + this.ttlMs) })
      .returning();
    return toView(row!);
  }

  async list(actor: Principal): Promise<SessionView[]> {
    const s = tables.chatSessions;
    const rows = await this.db
      .select()
      .from(s)
      .where(and(eq(s.userId, actor.userId), sql`${s.expiresAt} > now()`))
      .orderBy(desc(s.updatedAt))
      .limit(200);
    return rows.map(toView);
  }

  async get(actor: Principal, id: string): Promise<SessionView & { messages: unknown[] }> {
    const row = await this.row(actor, id);
    return { ...toView(row), messages: row.messages };
  }

  async remove(actor: Principal, id: string): Promise<void> {
    const s = tables.chatSessions;
    const gone = await this.db
      .delete(s)
      .where(and(eq(s.id, id), eq(s.userId, actor.userId)))
      .returning({ id: s.id });
    if (!gone.length) throw notFound('Session not found');
  }

  /**
   * Starts a turn on session `id` for `assistantId`: 404 when it is not the caller's (or belongs to another
   * assistant), 409 `session_busy` while another turn runs.
   */
  async begin(actor: Principal, id: string, assistantId: string): Promise<SessionTurn> {
    const s = tables.chatSessions;
    const mine = and(
      eq(s.id, id),
      eq(s.userId, actor.userId),
      eq(s.assistantId, assistantId),
      sql`${s.expiresAt} > now()`,
    );
    const [row] = await this.db
      .update(s)
      .set({ busyUntil: new Date(Date.now() + this.turnBudgetMs) })
      .where(and(mine, or(isNull(s.busyUntil), lt(s.busyUntil, sql`now()`))))
      .returning();
    if (!row) {
      const [exists] = await this.db.select({ id: s.id }).from(s).where(mine);
      if (!exists) throw notFound('Session not found');
      throw conflict('Another turn of this session is running; wait for it to finish', {
        code: 'session_busy',
      });
    }
    return {
      id: row.id,
      history: row.messages,
      commit: async (messages, title) => {
        await this.db
          .update(s)
          .set({
            messages: sql`${s.messages} || ${JSON.stringify(messages)}::jsonb`,
            title: row.title || title.slice(0, 80),
            busyUntil: null,
            updatedAt: new Date(),
            expiresAt: new Date(Date.now() + this.ttlMs),
          })
          .where(eq(s.id, row.id));
      },
      release: async () => {
        await this.db.update(s).set({ busyUntil: null }).where(eq(s.id, row.id));
      },
    };
  }

  async sweep(): Promise<void> {
    await this.db.delete(tables.chatSessions).where(lt(tables.chatSessions.expiresAt, new Date()));
  }

  private async row(actor: Principal, id: string): Promise<Row> {
    const s = tables.chatSessions;
    const [row] = await this.db
      .select()
      .from(s)
      .where(and(eq(s.id, id), eq(s.userId, actor.userId), sql`${s.expiresAt} > now()`));
    if (!row) throw notFound('Session not found');
    return row;
  }
}
