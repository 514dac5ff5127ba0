import type { HttpBindings } from '@hono/node-server';
import type { Logger } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';
import type { ToolCallDetail } from './access-log.js';

/** Per-request values set by middleware; routes read them with `c.get(...)`. */
export interface AppEnv {
  /** Node's request/response, for the transports that write to the socket themselves (legacy SSE). */
  Bindings: HttpBindings;
  Variables: {
    requestId: string;
    log: Logger;
    clientIp: string | null;
    principal: Principal;
    /** The MCP tool call a request carried, for its access-log line. */
    logDetail: ToolCallDetail;
    /** Settles once a streamed answer is complete; the access line waits for it (the call it carries). */
    answered: Promise<void>;
  };
}
