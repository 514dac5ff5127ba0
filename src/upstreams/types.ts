/** The shapes of the upstreams room: what is stored, what the supervisor runs, what the API shows. */

export type Transport = 'stdio' | 'sse' | 'streamable-http';
export type ServerStatus = 'starting' | 'running' | 'stopped' | 'error';
/** A stdio server's network inside its sandbox: none (loopback only, the default) or the host's (admin only). */
export type NetworkMode = 'none' | 'host';

export interface StdioConfig {
  command: string;
  args: string[];
  /** Working dir inside the sandbox; bound read-only (an install dir). */
  cwd: string | null;
  /** Further host paths the server may read (bound read-only at the same path), e.g. its package's install dir. */
  readPaths: string[];
  network: NetworkMode;
}

export interface HttpConfig {
  url: string;
}

/** A tool as the upstream listed it at its last connection. */
export interface CatalogTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

export interface ToolRules {
  /** Only these tools (null: all). */
  allow: string[] | null;
  /** Never these tools. */
  deny: string[];
  /** Per tool: the description callers see instead of the upstream's. */
  descriptions: Record<string, string>;
}

/** A server as the supervisor runs it: secrets opened, never shown or logged. */
export interface RunnableServer {
  id: string;
  name: string;
  ownerId: string;
  shared: boolean;
  /** The owner is an administrator: their URLs skip the private-network guard. */
  ownerIsAdmin: boolean;
  transport: Transport;
  stdio?: StdioConfig;
  http?: HttpConfig;
  env: Record<string, string>;
  headers: Record<string, string>;
  callTimeoutMs: number;
  enabled: boolean;
  /** Changes whenever the stored definition does: a running connection with another revision restarts. */
  revision: string;
}

export const DEFAULT_CALL_TIMEOUT_MS = 120_000;
export const MAX_CALL_TIMEOUT_MS = 3_600_000;
