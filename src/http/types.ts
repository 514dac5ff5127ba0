import type { HttpBindings } from '@hono/node-server';
import type { Logger } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';

/** Per-request values set by middleware; routes read them with `c.get(...)`. */
export interface AppEnv {
  /** Node's request/response, for the transports that write to the socket themselves (legacy SSE). */
  Bindings: HttpBindings;
  Variables: {
    requestId: string;
    log: Logger;
    clientIp: string | null;
    principal: Principal;
    /** Extra fields for the request's access-log line (e.g. the MCP tool call it carried). */
    logDetail: Record<string, unknown>;
  };
}
