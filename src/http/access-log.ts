import type { Logger, Metrics } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';

/** What an MCP request adds to its access-log line: the tool call it carried. */
export interface ToolCallDetail {
  tool: string;
  tool_ms: number;
  outcome: string;
}

export interface AccessEntry {
  requestId: string;
  method: string;
  /** The request's path, without its query. */
  path: string;
  /** The matched route's pattern (`unmatched` when none): the metrics label. */
  route: string;
  status: number;
  /** When the request arrived (`performance.now()`). */
  started: number;
  principal?: Principal;
  detail?: ToolCallDetail;
}

export type AccessLog = (entry: AccessEntry) => void;

/**
 * One `info` line and the HTTP metrics per request, for every edge that answers HTTP (the Hono app and the `/mcp`
 * fast path). The line's fields are fixed and none carries a secret (the path is taken without its query), so its
 * logger skips redaction, which costs six times the line itself; every other log line keeps it.
 */
export function accessLog(logger: Logger, metrics: Metrics): AccessLog {
  const lines = logger.child({}, { redact: { paths: [] } });
  return ({ requestId, method, path, route, status, started, principal, detail }) => {
    const seconds = (performance.now() - started) / 1000;
    metrics.httpRequests.inc({ method, route, status: String(status) });
    metrics.httpDuration.observe({ method, route }, seconds);
    if (principal) metrics.credentialUses.inc({ via: principal.via });
    lines.info(
      {
        req_id: requestId,
        method,
        path,
        route,
        status,
        ms: Math.round(seconds * 1000),
        ...(principal ? { user: principal.userId } : {}),
        ...detail,
      },
      'request',
    );
  };
}

const REQUEST_ID = /^[\w-]{1,64}$/;

/** The caller's `X-Request-Id` when it is a plain token, else a fresh one. */
export const requestIdFrom = (incoming: string | undefined | null, fresh: () => string): string =>
  incoming && REQUEST_ID.test(incoming) ? incoming : fresh();
