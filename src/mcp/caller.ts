/** Who an MCP server instance serves, as the HTTP edge hands it to the per-request server factory. */
import type { Logger } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';
import type { ToolContext } from '../tools/index.js';

/** What the HTTP edge hands the per-request server factory, through the SDK's `authInfo.extra`. */
export interface Caller {
  principal: Principal;
  /** Absent for a legacy SSE session, whose instance outlives the request that opened it. */
  requestId?: string;
  log: Logger;
  /** Folds a tool call into the request's access-log line (absent for SSE sessions, see `requestId`). */
  report?: ToolContext['report'];
}

/** Whether a stream's opening credential still authenticates its user (memoized per recheck pass). */
export type CredentialCheck = (s: {
  userId: string;
  authorization: string;
  resource: string;
}) => Promise<boolean>;
