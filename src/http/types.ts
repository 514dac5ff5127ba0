import type { Logger } from '../observability/logger.js';
import type { Principal } from '../shared/principal.js';

/** Per-request values set by middleware; routes read them with `c.get(...)`. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    clientIp: string | null;
    principal: Principal;
  };
}
