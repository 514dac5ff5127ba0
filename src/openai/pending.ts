import { and, eq, gt, inArray, lt } from 'drizzle-orm';
import type { ModelMessage } from 'ai';
import { tables, type Database } from '../db/index.js';

/** How long the hidden steps of a turn that ended on client tool calls wait for the client's results. */
const PENDING_TTL_MS = 60 * 60 * 1000;

/**
 * The hidden server-side steps of mixed-mode turns (§3.4 of the design notes): stored under the first client
 * `tool_call_id` of the turn, per user and assistant, so that the client's next request, which holds only the
 * calls meant for it, continues with the model's whole history. A miss (expired) falls back to the client's
 * history, which is still a valid conversation.
 */
export class PendingToolTurns {
  constructor(private readonly db: Database) {}

  async save(
    userId: string,
    assistantId: string,
    toolCallId: string,
    messages: ModelMessage[],
  ): Promise<void> {
    const p = tables.pendingToolTurns;
    const expiresAt = new Date(Date.now() + PENDING_TTL_MS);
    await this.db
      .insert(p)
      .values({ toolCallId, userId, assistantId, messages, expiresAt })
      .onConflictDoUpdate({ target: p.toolCallId, set: { userId, assistantId, messages, expiresAt } });
  }

  /** The stored turns among `toolCallIds` of this user and assistant, by first client call id. */
  async load(
    userId: string,
    assistantId: string,
    toolCallIds: string[],
  ): Promise<Map<string, ModelMessage[]>> {
    if (toolCallIds.length === 0) return new Map();
    const p = tables.pendingToolTurns;
    const rows = await this.db
      .select({ id: p.toolCallId, messages: p.messages })
      .from(p)
      .where(
        and(
          inArray(p.toolCallId, toolCallIds),
          eq(p.userId, userId),
          eq(p.assistantId, assistantId),
          gt(p.expiresAt, new Date()),
        ),
      );
    return new Map(rows.map((r) => [r.id, r.messages as ModelMessage[]]));
  }

  async sweep(): Promise<void> {
    await this.db.delete(tables.pendingToolTurns).where(lt(tables.pendingToolTurns.expiresAt, new Date()));
  }
}
