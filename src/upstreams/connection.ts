import type { Client, Transport } from '@modelcontextprotocol/client';
import { SdkError, SdkHttpError, type CallToolResult } from '@modelcontextprotocol/server';
import { clientSdk, loadClientSdk } from './client-sdk.js';
import type { Logger } from '../observability/index.js';
import type { CatalogTool, RunnableServer, ServerStatus } from './types.js';

type Prior =
  { kind: 'modern'; discover: NonNullable<ReturnType<Client['getDiscoverResult']>> } | { kind: 'legacy' };

export interface ConnectionTimings {
  /** Health check interval (UPSTREAM_HEALTH_INTERVAL_SECONDS, default 30 s). */
  healthIntervalMs: number;
  /** First reconnect delay; doubles per failure up to `backoffMaxMs`. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** This many failed starts in a row: the server is left in `error` (crash loop) until someone restarts it. */
  maxRestarts: number;
  /** Running this long resets the failure count. */
  stableMs: number;
}

export const DEFAULT_TIMINGS: ConnectionTimings = {
  healthIntervalMs: 30_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  maxRestarts: 5,
  stableMs: 5 * 60_000,
};

/** What a connection reports to its supervisor. */
export interface ConnectionEvents {
  status(status: ServerStatus, error: string | null, restarted: boolean, era: string | null): void;
  catalog(tools: CatalogTool[]): void;
}

/** Listing and health calls never wait long: a hung server is a failed check. */
const CONTROL_TIMEOUT_MS = 10_000;
const HEALTH_TIMEOUT_MS = 5_000;

/** The upstream could not be reached for a call: fail fast, never hang until the call's timeout. */
export class UpstreamUnavailable extends Error {
  override name = 'UpstreamUnavailable';
}

/**
 * One supervised connection to one upstream server: an SDK `Client` over our transports, kept up by health checks
 * and reconnects with exponential backoff, a crash-loop stop, and a single re-initialise-and-retry when a 2025-era
 * HTTP server lost our session ("Session not found" = HTTP 404 while a session is held; detected by type and
 * status, never by message text).
 */
export class UpstreamConnection {
  private client: Client | null = null;
  private transport: Transport | null = null;
  private prior: Prior | null = null;
  private state: ServerStatus = 'stopped';
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private stableTimer: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;
  private stopped = true;
  private generation = 0;

  constructor(
    readonly server: RunnableServer,
    private readonly deps: {
      transport: (server: RunnableServer) => Transport;
      events: ConnectionEvents;
      timings: ConnectionTimings;
      logger: Logger;
      version: string;
    },
  ) {}

  get status(): ServerStatus {
    return this.state;
  }

  /** Starts (or restarts after an error): clears the crash-loop count. */
  start(): void {
    this.stopped = false;
    this.failures = 0;
    this.clearTimers();
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    this.clearTimers();
    await this.teardown();
    this.setState('stopped', null);
  }

  /** Calls a tool with the server's timeout (restarted by progress) and the caller's cancellation. */
  async callTool(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<CallToolResult> {
    const client = await this.ready();
    const options = {
      signal,
      timeout: this.server.callTimeoutMs,
      resetTimeoutOnProgress: true,
      maxTotalTimeout: this.server.callTimeoutMs * 3,
      onprogress: () => undefined,
    };
    try {
      return (await client.callTool({ name, arguments: args }, options)) as CallToolResult;
    } catch (err) {
      if (isNetworkError(err)) {
        // The server is not reachable any more: reconnect in the background, and fail this call now.
        void this.failed(this.generation, `The server cannot be reached: ${describe(err)}`);
        throw new UpstreamUnavailable(`The MCP server "${this.server.name}" cannot be reached.`);
      }
      if (!this.sessionLost(err)) throw err;
      // The request never reached a tool: re-initialise once and retry.
      this.deps.logger.info({ server: this.server.name }, 'upstream lost our session; reconnecting');
      await this.reconnectNow();
      return (await (await this.ready()).callTool({ name, arguments: args }, options)) as CallToolResult;
    }
  }

  private async ready(): Promise<Client> {
    if (this.connecting) await this.connecting.catch(() => undefined);
    if (this.state !== 'running' || !this.client)
      throw new UpstreamUnavailable(`The MCP server "${this.server.name}" is not running (${this.state}).`);
    return this.client;
  }

  private async reconnectNow(): Promise<void> {
    await this.teardown();
    await this.connect();
  }

  private connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    const generation = ++this.generation;
    this.setState('starting', null);
    this.connecting = this.open(generation)
      .catch((err) => this.failed(generation, describe(err)))
      .finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async open(generation: number): Promise<void> {
    const { Client, SseError } = await loadClientSdk();
    const client = new Client(
      { name: 'skillport', version: this.deps.version },
      {
        versionNegotiation: { mode: 'auto', probe: { timeoutMs: 3_000 } },
        listChanged: {
          tools: {
            onChanged: (err, tools) => {
              if (!err && tools && generation === this.generation) this.deps.events.catalog(catalogOf(tools));
            },
          },
        },
      },
    );
    const transport = this.deps.transport(this.server);
    transport.onclose = () => {
      if (generation === this.generation && !this.stopped) void this.failed(generation, 'The server exited');
    };
    this.client = client;
    this.transport = transport;
    await client.connect(transport, {
      timeout: CONTROL_TIMEOUT_MS,
      ...(this.prior ? { prior: this.prior } : {}),
    });
    // A stream error on an HTTP transport means the server went away (no onclose comes for it).
    const prev = transport.onerror;
    transport.onerror = (err) => {
      prev?.(err);
      if (err instanceof SseError && generation === this.generation && !this.stopped)
        void this.failed(generation, 'The event stream ended');
    };
    const discover = client.getDiscoverResult();
    this.prior = discover ? { kind: 'modern', discover } : { kind: 'legacy' };
    const { tools } = await client.listTools(undefined, { timeout: CONTROL_TIMEOUT_MS });
    if (generation !== this.generation) return;
    this.deps.events.catalog(catalogOf(tools));
    this.setState('running', null, this.failures > 0);
    this.stableTimer = setTimeout(() => (this.failures = 0), this.deps.timings.stableMs);
    this.stableTimer.unref();
    this.scheduleHealth(generation);
  }

  private scheduleHealth(generation: number): void {
    this.timer = setTimeout(async () => {
      if (generation !== this.generation || this.stopped) return;
      try {
        const client = this.client!;
        if (client.getProtocolEra() === 'modern') await client.discover({ timeout: HEALTH_TIMEOUT_MS });
        else await client.ping({ timeout: HEALTH_TIMEOUT_MS });
        this.scheduleHealth(generation);
      } catch (err) {
        if (generation === this.generation)
          await this.failed(generation, `Health check failed: ${describe(err)}`);
      }
    }, this.deps.timings.healthIntervalMs);
    this.timer.unref();
  }

  /** A start or a running connection failed: back off and retry, or stop in `error` after a crash loop. */
  private async failed(generation: number, message: string): Promise<void> {
    if (generation !== this.generation || this.stopped) return;
    this.generation++;
    this.clearTimers();
    await this.teardown();
    this.failures++;
    if (this.failures >= this.deps.timings.maxRestarts) {
      this.setState(
        'error',
        `${message} (crash loop: ${this.failures} failures in a row; restart it to retry)`,
      );
      return;
    }
    this.setState('error', message);
    const delay = Math.min(
      this.deps.timings.backoffMaxMs,
      this.deps.timings.backoffBaseMs * 2 ** (this.failures - 1),
    );
    // Full jitter keeps many servers that failed together from retrying together.
    this.timer = setTimeout(() => void this.connect(), delay / 2 + (Math.random() * delay) / 2);
    this.timer.unref();
  }

  private async teardown(): Promise<void> {
    const { client, transport } = this;
    this.client = null;
    this.transport = null;
    if (transport) transport.onclose = undefined;
    await client?.close().catch(() => undefined);
    await transport?.close().catch(() => undefined);
  }

  private sessionLost(err: unknown): boolean {
    const sessionId = (this.transport as { sessionId?: string } | null)?.sessionId;
    return (
      (err instanceof SdkHttpError && err.status === 404 && !!sessionId) ||
      (err instanceof Error && /\(HTTP 404\)/.test(err.message) && this.server.transport === 'sse')
    );
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.timer = this.stableTimer = null;
  }

  private setState(state: ServerStatus, error: string | null, restarted = false): void {
    if (state === this.state && error === null && !restarted) return;
    this.state = state;
    this.deps.events.status(state, error, restarted, this.client?.getProtocolEra() ?? null);
  }
}

/** The HTTP transports, over the SSRF-guarded fetch (made by `open()`, once the SDK is loaded). */
export function httpTransport(server: RunnableServer, fetch: typeof globalThis.fetch): Transport {
  const { SSEClientTransport, StreamableHTTPClientTransport } = clientSdk();
  const url = new URL(server.http!.url);
  const requestInit = { headers: server.headers };
  return server.transport === 'sse'
    ? new SSEClientTransport(url, { requestInit, fetch })
    : new StreamableHTTPClientTransport(url, { requestInit, fetch });
}

function catalogOf(tools: Array<Record<string, unknown> & { name: string }>): CatalogTool[] {
  return tools.map((t) => ({
    name: t.name,
    ...(typeof t.title === 'string' ? { title: t.title } : {}),
    ...(typeof t.description === 'string' ? { description: t.description } : {}),
    inputSchema: (t.inputSchema as Record<string, unknown>) ?? { type: 'object' },
    ...(t.annotations ? { annotations: t.annotations as Record<string, unknown> } : {}),
  }));
}

/** A failure to reach the server at all (refused, reset, DNS), as opposed to an answer from it. */
function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EPIPE|ETIMEDOUT)/.test(code))
      return true;
  }
  return false;
}

/** An error as a status line: its kind and message, never a stack. */
function describe(err: unknown): string {
  if (SdkError.isInstance?.(err)) return `${(err as SdkError).code}: ${(err as Error).message}`;
  return err instanceof Error ? err.message : String(err);
}
