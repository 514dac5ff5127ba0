import { sql } from 'drizzle-orm';
import { tables, type Database } from '../db/index.js';

/** How long counted usage waits in memory before it is written (one upsert per assistant and credential). */
const FLUSH_MS = 1_000;

interface Counts {
  assistantId: string;
  credential: string;
  userId: string;
  requests: number;
  prompt: number;
  completion: number;
}

const isForeignKeyViolation = (err: unknown) =>
  (err as { code?: string }).code === '23503' ||
  (err as { cause?: { code?: string } }).cause?.code === '23503';

/**
 * Token usage per assistant and credential, added up in memory and written at most once a second per pair: a
 * turn's answer never waits for (nor shares its CPU with) a database write, and a busy key costs one write a
 * second, not one per turn. What a crash loses is the last second's counts; what another instance has counted
 * shows within a second.
 */
export class UsageCounter {
  private pending = new Map<string, Counts>();
  private timer: NodeJS.Timeout | null = null;
  /** The writes under way: a flush resolves after the earlier ones too. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    /** Told when a write failed (its counts are kept for the next one). */
    private readonly onError: (err: unknown) => void,
  ) {}

  add(
    assistantId: string,
    credential: string,
    userId: string,
    usage: { prompt: number; completion: number },
  ) {
    this.merge({ assistantId, credential, userId, requests: 1, ...usage });
  }

  /** Writes what has been counted so far (before usage is read, and at shutdown). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.writing = this.writing.then(async () => {
      for (const counts of batch) {
        try {
          await this.write(counts);
        } catch (err) {
          // Deleted meanwhile (the assistant or its user): its usage went with it.
          if (isForeignKeyViolation(err)) continue;
          this.onError(err);
          this.merge(counts);
        }
      }
    });
    return this.writing;
  }

  private merge(c: Counts): void {
    const key = `${c.assistantId} ${c.credential}`;
    const counts = this.pending.get(key);
    if (counts) {
      counts.requests += c.requests;
      counts.prompt += c.prompt;
      counts.completion += c.completion;
    } else {
      this.pending.set(key, { ...c });
    }
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  private async write(c: Counts): Promise<void> {
    const u = tables.assistantUsage;
    await this.db
      .insert(u)
      .values({
        assistantId: c.assistantId,
        credential: c.credential,
        userId: c.userId,
        requests: c.requests,
        promptTokens: c.prompt,
        completionTokens: c.completion,
      })
      .onConflictDoUpdate({
        target: [u.assistantId, u.credential],
        set: {
          requests: sql`${u.requests} + ${c.requests}`,
          promptTokens: sql`${u.promptTokens} + ${c.prompt}`,
          completionTokens: sql`${u.completionTokens} + ${c.completion}`,
          updatedAt: new Date(),
        },
      });
  }
}
