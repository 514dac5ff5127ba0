import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * Carries events between server instances. Rooms keep emitting on their own EventEmitters; the composition root
 * bridges the events other instances must hear (credential changes, skill changes) through this bus.
 */
export interface EventBus {
  publish(channel: string, payload: Record<string, unknown>): Promise<void>;
  subscribe(channel: string, handler: (payload: Record<string, unknown>) => void): Promise<void>;
  close(): Promise<void>;
}

/** Marks an event that arrived from another instance, so the bridge does not send it back out. */
export const REMOTE = '__remote';

export interface Bridge {
  /** Resolves once every local event forwarded so far has been handed to the bus (failed ones included). */
  settled(): Promise<void>;
}

/**
 * Forwards `event` from a local emitter to the bus, and the same event from other instances back onto the
 * emitter (flagged REMOTE). `onRemote` runs first for remote events (e.g. to drop local caches).
 */
export async function bridge(
  emitter: EventEmitter,
  event: string,
  bus: EventBus,
  onRemote?: (payload: Record<string, unknown>) => void,
): Promise<Bridge> {
  const pending = new Set<Promise<void>>();
  emitter.on(event, (payload: Record<string, unknown>) => {
    if (payload?.[REMOTE]) return;
    const published = bus.publish(event, payload).catch(() => undefined);
    pending.add(published);
    void published.finally(() => pending.delete(published));
  });
  await bus.subscribe(event, (payload) => {
    onRemote?.(payload);
    emitter.emit(event, { ...payload, [REMOTE]: true });
  });
  return {
    async settled() {
      await Promise.all([...pending]);
    },
  };
}

/** Redis pub/sub. Messages this instance published are ignored on the way back in. */
export class RedisEventBus implements EventBus {
  private readonly instanceId = randomUUID();
  private readonly handlers = new Map<string, Array<(payload: Record<string, unknown>) => void>>();

  private constructor(
    /** The command connection; other Redis users of this instance (the rate limiter) share it. */
    readonly pub: Redis,
    private readonly sub: Redis,
    private readonly prefix: string,
  ) {
    sub.on('message', (channel: string, message: string) => {
      let parsed: { from?: string; payload?: Record<string, unknown> };
      try {
        parsed = JSON.parse(message);
      } catch {
        return;
      }
      if (parsed.from === this.instanceId || !parsed.payload) return;
      for (const h of this.handlers.get(channel.slice(this.prefix.length)) ?? []) h(parsed.payload);
    });
  }

  /**
   * Connects both connections or throws the first connection error (and stops retrying). Later connection
   * errors go to `onError` while ioredis reconnects on its own; without a listener ioredis would print each
   * one with its stack.
   */
  static async connect(
    url: string,
    prefix: string,
    onError: (err: Error) => void = () => undefined,
  ): Promise<RedisEventBus> {
    // Loaded here: an instance without REDIS_URL never needs the client.
    const { Redis } = await import('ioredis');
    const options = { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 5_000 };
    const pub = new Redis(url, options);
    const sub = new Redis(url, options);
    // ioredis rejects connect() with a bare "Connection is closed"; the 'error' event before it says why.
    let cause: Error | undefined;
    for (const r of [pub, sub]) r.on('error', (err: Error) => (cause ??= err));
    try {
      await Promise.all([pub.connect(), sub.connect()]);
    } catch (err) {
      pub.disconnect();
      sub.disconnect();
      throw cause ?? err;
    }
    for (const r of [pub, sub]) r.on('error', onError);
    return new RedisEventBus(pub, sub, prefix);
  }

  async publish(channel: string, payload: Record<string, unknown>): Promise<void> {
    await this.pub.publish(this.prefix + channel, JSON.stringify({ from: this.instanceId, payload }));
  }

  async subscribe(channel: string, handler: (payload: Record<string, unknown>) => void): Promise<void> {
    const list = this.handlers.get(channel) ?? [];
    list.push(handler);
    this.handlers.set(channel, list);
    if (list.length === 1) await this.sub.subscribe(this.prefix + channel);
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
