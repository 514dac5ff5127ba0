/**
 * The SDK's `/mcp` handlers, one per user, so that list-changed notifications reach only that user's
 * subscription streams. At most MAX_CACHED_HANDLERS stay warm; the least recently used is closed beyond that.
 */
import { createMcpHandler, type McpHttpHandler, type McpServer } from '@modelcontextprotocol/server';
import type { Logger } from '../observability/index.js';
import type { Caller } from './caller.js';

const MAX_CACHED_HANDLERS = 1000;

export class UserHandlers {
  /** Map order is the LRU order: a handler is re-inserted on every use. */
  private readonly handlers = new Map<string, McpHttpHandler>();

  constructor(
    private readonly serverFor: (caller: Caller) => Promise<McpServer>,
    private readonly logger: Logger,
  ) {}

  for(userId: string): McpHttpHandler {
    let h = this.handlers.get(userId);
    if (h) {
      this.handlers.delete(userId);
    } else {
      h = createMcpHandler(({ authInfo }) => this.serverFor(authInfo!.extra as unknown as Caller), {
        onerror: (err) => this.logger.debug({ err: err.message, user: userId }, 'mcp request rejected'),
      });
      if (this.handlers.size >= MAX_CACHED_HANDLERS) {
        const [oldestId, oldest] = this.handlers.entries().next().value as [string, McpHttpHandler];
        this.handlers.delete(oldestId);
        void oldest.close();
      }
    }
    this.handlers.set(userId, h);
    return h;
  }

  /** Tells the subscription streams of `userId` (every user's when null) that its tools or resources changed. */
  notify(userId: string | null, kind: 'tools' | 'resources'): void {
    const affected = userId ? [this.handlers.get(userId)] : this.handlers.values();
    for (const h of affected) {
      if (kind === 'tools') h?.notify.toolsChanged();
      else h?.notify.resourcesChanged();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.handlers.values()].map((h) => h.close()));
    this.handlers.clear();
  }
}
