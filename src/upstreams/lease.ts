import { createHmac, hkdfSync } from 'node:crypto';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { tables, type Database } from '../db/index.js';
import { constantTimeEqual } from '../shared/crypto.js';

/**
 * Which instance owns each upstream server: a lease row with a fencing number (`generation`), so that a stdio
 * server runs exactly once across instances and one instance writes its status. The owner renews the lease
 * every third of its length; an instance that dies stops renewing, and another takes the lease once it has
 * expired. Every write of the owner carries the generation it won, so an owner that lost its lease (paused,
 * partitioned) cannot overwrite its successor's status. No advisory locks: they are bound to one database
 * session and invisible to the console.
 */
export class Leases {
  constructor(
    private readonly db: Database,
    /** This instance (a random id per process). */
    readonly instanceId: string,
    private readonly leaseMs: number,
  ) {}

  /** Takes the lease if it is free, expired, or already ours; returns its generation, or null if another holds it. */
  async acquire(serverId: string, internalUrl: string | null): Promise<number | null> {
    const r = tables.mcpServerRuntime;
    const [row] = await this.db
      .update(r)
      .set({
        ownerInstance: this.instanceId,
        ownerUrl: internalUrl,
        leaseExpiresAt: sql`now() + ${`${this.leaseMs} milliseconds`}::interval`,
        generation: sql`case when ${r.ownerInstance} = ${this.instanceId} then ${r.generation} else ${r.generation} + 1 end`,
      })
      .where(
        and(
          eq(r.serverId, serverId),
          or(isNull(r.ownerInstance), eq(r.ownerInstance, this.instanceId), lt(r.leaseExpiresAt, sql`now()`)),
        ),
      )
      .returning({ generation: r.generation });
    return row ? row.generation : null;
  }

  /** Extends a lease we hold; false when it was lost (expired and taken, or the server is gone). */
  async renew(serverId: string, generation: number): Promise<boolean> {
    const r = tables.mcpServerRuntime;
    const rows = await this.db
      .update(r)
      .set({ leaseExpiresAt: sql`now() + ${`${this.leaseMs} milliseconds`}::interval` })
      .where(this.held(serverId, generation))
      .returning({ id: r.serverId });
    return rows.length > 0;
  }

  /** Gives a lease up (clean shutdown, server stopped), so that another instance can take it at once. */
  async release(serverId: string, generation: number): Promise<void> {
    await this.db
      .update(tables.mcpServerRuntime)
      .set({ ownerInstance: null, ownerUrl: null, leaseExpiresAt: null })
      .where(this.held(serverId, generation));
  }

  /** The condition every write of the owner carries (the fence). */
  held(serverId: string, generation: number) {
    const r = tables.mcpServerRuntime;
    return and(eq(r.serverId, serverId), eq(r.ownerInstance, this.instanceId), eq(r.generation, generation));
  }

  /** Where the current owner answers forwarded calls, when another instance holds a live lease. */
  async owner(serverId: string): Promise<{ instance: string; url: string } | null> {
    const r = tables.mcpServerRuntime;
    const [row] = await this.db
      .select({ instance: r.ownerInstance, url: r.ownerUrl, live: sql<boolean>`${r.leaseExpiresAt} > now()` })
      .from(r)
      .where(eq(r.serverId, serverId));
    return row?.instance && row.url && row.live ? { instance: row.instance, url: row.url } : null;
  }
}

/**
 * Tokens for calls between instances (a call forwarded to a stdio server's owner): an HMAC under a key derived
 * from SECRET_KEY (which every instance shares), bound to the server and valid for a minute.
 */
export class InternalTokens {
  private readonly key: Buffer;

  constructor(secretKey: string) {
    this.key = Buffer.from(hkdfSync('sha256', secretKey, 'skillport', 'internal-rpc v1', 32) as ArrayBuffer);
  }

  issue(serverId: string, now = Date.now()): string {
    const expires = Math.floor(now / 1000) + 60;
    return `${expires}.${this.mac(serverId, expires)}`;
  }

  verify(token: string, serverId: string, now = Date.now()): boolean {
    const [expires, mac, extra] = token.split('.');
    if (!expires || !mac || extra !== undefined || !/^\d{1,12}$/.test(expires)) return false;
    if (Number(expires) < Math.floor(now / 1000)) return false;
    return constantTimeEqual(mac, this.mac(serverId, Number(expires)));
  }

  private mac(serverId: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${serverId}.${expires}`).digest('base64url');
  }
}
