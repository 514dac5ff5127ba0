import { chmodSync, chownSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import type { Transport } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { recordAudit } from '../audit/index.js';
import { tables, type Database } from '../db/index.js';
import type { SettingsService } from '../admin/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import { detectHostLayout, probeBubblewrap, serviceArgv, type HostLayout } from '../sandbox/index.js';
import type { Principal } from '../shared/principal.js';
import {
  httpTransport,
  UpstreamConnection,
  UpstreamUnavailable,
  type ConnectionTimings,
} from './connection.js';
import type { UpstreamsService } from './service.js';
import { guardedFetch } from './ssrf.js';
import { GroupStdioTransport, StderrRing } from './stdio-transport.js';
import type { CatalogTool, RunnableServer, ServerStatus } from './types.js';
import type { InternalTokens, Leases } from './lease.js';
// Branded classes: they match the client SDK's errors, which is loaded only with a connection (client-sdk.ts).
import { ProtocolError, SdkError, SdkErrorCode } from '@modelcontextprotocol/server';
import { ToolError } from '../tools/index.js';

export interface SupervisorOptions {
  db: Database;
  service: UpstreamsService;
  settings: SettingsService;
  logger: Logger;
  metrics: Metrics;
  version: string;
  /**
   * Per-server writable state dirs live below it. Not inside DATA_DIR: the sandbox uid must reach its own dir,
   * and DATA_DIR stays closed to every other uid.
   */
  stateRoot: string;
  timings: ConnectionTimings;
  /** Run stdio servers without bubblewrap when it is unusable (UPSTREAM_STDIO_UNSANDBOXED). */
  allowUnsandboxed: boolean;
  sandboxUid: number;
  /** Who owns which server across instances. */
  leases: Leases;
  /** Authenticates calls forwarded between instances. */
  tokens: InternalTokens;
  /** How often held leases are renewed and free ones looked for (a third of the lease length). */
  leaseTickMs: number;
}

const STDERR_BYTES = 64 * 1024;

/** The sandbox uid must pass through every dir above the state root; say which one stops it (bwrap would not). */
function assertSearchable(dir: string): void {
  for (let d = path.resolve(dir); d !== path.dirname(d); d = path.dirname(d)) {
    if (!(statSync(d).mode & 0o001))
      throw new Error(`The sandbox user cannot reach the state dir ${dir}: ${d} is not searchable by others`);
  }
}

/** A failure message with the last line the server wrote to stderr (already redacted), which usually says why. */
function withStderrTail(message: string, stderr: StderrRing): string {
  const last = stderr.text().trimEnd().split('\n').pop()?.slice(-300);
  return last ? `${message}; last stderr line: ${last}` : message;
}

interface Running {
  connection: UpstreamConnection;
  stderr: StderrRing;
}

/**
 * Keeps every enabled upstream server connected on this instance, records each one's status in the database
 * (status, last error, time of change, restart count, protocol era, tool catalog), and forwards tool calls.
 * The desired state is the server row (`enabled`); `reconcile` brings a server in line after any change, here
 * or (through the event bus) on another instance.
 */
export class UpstreamSupervisor {
  private readonly running = new Map<string, Running>();
  private readonly pending = new Map<string, Promise<void>>();
  /** The leases this instance holds: server id → generation (the fence of its writes). */
  private readonly held = new Map<string, number>();
  private sandbox: Promise<HostLayout | null> | null = null;
  private closed = false;
  private internalUrl: string | null = null;
  private ticker: NodeJS.Timeout | null = null;

  constructor(private readonly o: SupervisorOptions) {}

  /**
   * Starts supervising (the server calls it once it listens): every enabled server, then a tick that renews this
   * instance's leases and takes over servers whose owner stopped renewing.
   */
  async begin(internalUrl: string | null): Promise<void> {
    this.internalUrl = internalUrl;
    await this.tick();
    this.ticker = setInterval(() => void this.tick(), this.o.leaseTickMs);
    this.ticker.unref();
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    try {
      for (const [id, generation] of this.held) {
        if (await this.o.leases.renew(id, generation)) continue;
        // Lost (we were paused or cut off and another instance took over): stop at once, write nothing.
        this.held.delete(id);
        this.o.logger.warn({ server: id }, 'lost the lease of an upstream MCP server; stopping it here');
        await this.stopLocal(id, null);
      }
      const servers = await this.o.service.allServers();
      await Promise.all(
        servers
          .filter((s) => s.enabled && (!this.held.has(s.id) || !this.running.has(s.id)))
          .map((s) => this.reconcile(s.id)),
      );
    } catch (err) {
      this.o.logger.error({ err: (err as Error).message }, 'upstream lease tick failed');
    }
  }

  /** Brings one server in line with its row: start, stop, or restart when its definition changed. */
  reconcile(serverId: string): Promise<void> {
    const previous = this.pending.get(serverId) ?? Promise.resolve();
    const next = previous
      .then(() => this.reconcileNow(serverId))
      .catch((err: unknown) => {
        this.o.logger.error({ err: (err as Error).message, server: serverId }, 'upstream reconcile failed');
      });
    this.pending.set(serverId, next);
    void next.finally(() => this.pending.get(serverId) === next && this.pending.delete(serverId));
    return next;
  }

  /** Starts a server (enables it; clears a crash loop). */
  async start(actor: Principal, id: string, ip: string | null): Promise<void> {
    await this.setEnabled(actor, id, true, ip);
    await this.reconcile(id);
  }

  async stop(actor: Principal, id: string, ip: string | null): Promise<void> {
    await this.setEnabled(actor, id, false, ip);
    await this.reconcile(id);
  }

  async restart(actor: Principal, id: string, ip: string | null): Promise<void> {
    await this.o.service.manageable(actor, id);
    await recordAudit(this.o.db, {
      actorId: actor.userId,
      action: 'mcp_server.restart',
      target: id,
      result: 'success',
      ip,
    });
    await this.stopLocal(id);
    await this.reconcile(id);
  }

  /** The last 64 KiB of a stdio server's stderr (secret values replaced), for its owner or an admin. */
  async stderr(actor: Principal, id: string): Promise<string> {
    await this.o.service.manageable(actor, id);
    return this.running.get(id)?.stderr.text() ?? '';
  }

  /** Forwards a call to the server's tool, with metrics by server (never argument values). */
  async call(
    serverId: string,
    tool: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    const started = performance.now();
    let outcome = 'ok';
    try {
      const running = this.running.get(serverId);
      const result = running
        ? await running.connection.callTool(tool, args, signal)
        : await this.forward(serverId, tool, args, signal);
      if (result.isError) outcome = 'tool_error';
      return result;
    } catch (err) {
      outcome = signal.aborted ? 'cancelled' : 'failed';
      throw err;
    } finally {
      this.o.metrics.upstreamCalls.inc({ server: serverId, outcome });
      this.o.metrics.upstreamDuration.observe({ server: serverId }, (performance.now() - started) / 1000);
    }
  }

  /** A call for a server another instance runs (a stdio server's lease owner), over the internal endpoint. */
  private async forward(
    serverId: string,
    tool: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    const owner = await this.o.leases.owner(serverId);
    if (!owner || owner.instance === this.o.leases.instanceId)
      throw new UpstreamUnavailable('The MCP server is not running.');
    let res: Response;
    try {
      res = await fetch(`${owner.url}/internal/upstreams/${serverId}/call`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.o.tokens.issue(serverId)}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ name: tool, arguments: args }),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      throw new UpstreamUnavailable('The instance running the MCP server cannot be reached.');
    }
    const body = (await res.json().catch(() => null)) as ForwardAnswer | null;
    if (res.ok && body && 'result' in body) return body.result;
    throw forwardedError(body && 'error' in body ? body.error : { kind: 'unavailable', message: '' });
  }

  /**
   * Answers a call forwarded by another instance (`/internal/upstreams/:id/call`): checks the token, runs the
   * call here, and reports failures by kind.
   */
  async serveForwarded(
    serverId: string,
    authorization: string | undefined,
    body: unknown,
    signal: AbortSignal,
  ): Promise<{ status: number; body: ForwardAnswer }> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token || !this.o.tokens.verify(token, serverId))
      return { status: 401, body: { error: { kind: 'unauthorized', message: 'Invalid internal token' } } };
    const call = body as { name?: unknown; arguments?: unknown } | null;
    if (typeof call?.name !== 'string' || typeof call.arguments !== 'object' || call.arguments === null)
      return { status: 400, body: { error: { kind: 'protocol', message: 'Invalid forwarded call' } } };
    const running = this.running.get(serverId);
    if (!running)
      return { status: 503, body: { error: { kind: 'unavailable', message: 'Not running here' } } };
    try {
      const result = await this.call(serverId, call.name, call.arguments as Record<string, unknown>, signal);
      return { status: 200, body: { result } };
    } catch (err) {
      const kind: ForwardError['kind'] =
        err instanceof UpstreamUnavailable
          ? 'unavailable'
          : SdkError.isInstance(err) && (err as SdkError).code === SdkErrorCode.RequestTimeout
            ? 'timeout'
            : err instanceof ProtocolError
              ? 'protocol'
              : 'unavailable';
      const message = kind === 'protocol' ? (err as Error).message : '';
      return { status: kind === 'protocol' ? 422 : 503, body: { error: { kind, message } } };
    }
  }

  /** Stops every server (shutdown): no process is left behind. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    await Promise.all([...this.pending.values()]);
    await Promise.all([...this.running.keys()].map((id) => this.stopLocal(id)));
    // Handing the leases back lets another instance take over at once instead of after they expire.
    await Promise.all(
      [...this.held].map(([id, generation]) => this.o.leases.release(id, generation).catch(() => undefined)),
    );
    this.held.clear();
  }

  private async reconcileNow(id: string): Promise<void> {
    if (this.closed) return;
    const server = await this.o.service.runnable(id);
    const current = this.running.get(id);
    if (!server || !server.enabled) {
      if (current) await this.stopLocal(id, server ? 'stopped' : null);
      const generation = this.held.get(id);
      this.held.delete(id);
      if (server && generation !== undefined) await this.o.leases.release(id, generation);
      return;
    }
    const generation = await this.o.leases.acquire(id, this.internalUrl);
    if (generation === null) this.held.delete(id);
    else this.held.set(id, generation);
    // A stdio server runs on its lease owner only; HTTP/SSE servers are connected from every instance.
    if (server.transport === 'stdio' && generation === null) {
      if (current) await this.stopLocal(id, null);
      return;
    }
    if (current && current.connection.server.revision === server.revision) return;
    if (current) await this.stopLocal(id, null);
    const secrets = [...Object.values(server.env), ...Object.values(server.headers)];
    const stderr = new StderrRing(STDERR_BYTES, secrets);
    const redact = (text: string) =>
      secrets.reduce((t, s) => (s.length >= 4 ? t.split(s).join('***') : t), text);
    const layout = server.transport === 'stdio' ? await this.sandboxLayout() : null;
    const connection = new UpstreamConnection(server, {
      transport: (s) => this.transportFor(s, stderr, layout),
      events: {
        status: (status, error, restarted, era) =>
          void this.writeStatus(
            server,
            status,
            error && withStderrTail(redact(error), stderr),
            restarted,
            era,
          ),
        catalog: (tools) => void this.writeCatalog(server, tools),
      },
      timings: this.o.timings,
      logger: this.o.logger,
      version: this.o.version,
    });
    this.running.set(id, { connection, stderr });
    connection.start();
  }

  private async stopLocal(id: string, status: ServerStatus | null = 'stopped'): Promise<void> {
    const running = this.running.get(id);
    if (!running) return;
    this.running.delete(id);
    await running.connection.stop();
    if (status) await this.writeStatusRow(id, { status, lastError: null });
  }

  private transportFor(server: RunnableServer, stderr: StderrRing, layout: HostLayout | null): Transport {
    if (server.transport !== 'stdio') return this.httpTransportFor(server);
    const cfg = server.stdio!;
    if (!layout) {
      if (!this.o.allowUnsandboxed)
        throw new Error('bubblewrap is not usable here and UPSTREAM_STDIO_UNSANDBOXED is not set');
      // Unsandboxed (an admin's explicit choice): still no server environment, own process group.
      return new GroupStdioTransport([cfg.command, ...cfg.args], {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...server.env },
        cwd: cfg.cwd ?? undefined,
        stderr,
      });
    }
    const stateDir = path.join(this.o.stateRoot, server.id);
    const asRoot = process.getuid?.() === 0;
    // The root only lets the sandbox uid pass through to its own dir (0711); each dir is 0700 and its own.
    mkdirSync(this.o.stateRoot, { recursive: true });
    chmodSync(this.o.stateRoot, 0o711);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    if (asRoot) {
      chownSync(stateDir, this.o.sandboxUid, this.o.sandboxUid);
      assertSearchable(this.o.stateRoot);
    }
    const argv = serviceArgv(
      {
        command: cfg.command,
        args: cfg.args,
        cwd: cfg.cwd,
        readPaths: cfg.readPaths,
        env: server.env,
        stateDir,
        network: cfg.network,
        uid: asRoot ? this.o.sandboxUid : null,
        gid: asRoot ? this.o.sandboxUid : null,
        limits: { processes: 512, openFiles: 1024, fileBytes: 256 * 1024 * 1024 },
      },
      layout,
    );
    return new GroupStdioTransport(argv, { env: { PATH: '/usr/bin:/bin' }, stderr });
  }

  private httpTransportFor(server: RunnableServer): Transport {
    // The owner's rights at connect time: an admin's URL may be private; a user's is checked on every connect.
    const policy = this.o.settings.get().then((s) => ({
      allowPrivate: server.ownerIsAdmin || s.upstream_allow_private_networks,
      allowHttp: server.ownerIsAdmin || s.upstream_allow_http,
    }));
    const fetch: typeof globalThis.fetch = async (input, init) => guardedFetch(await policy)(input, init);
    return httpTransport(server, fetch);
  }

  /** The host layout for bubblewrap, or null when it cannot run here (probed once). */
  private sandboxLayout(): Promise<HostLayout | null> {
    this.sandbox ??= probeBubblewrap({
      uid: process.getuid?.() === 0 ? this.o.sandboxUid : null,
      gid: process.getuid?.() === 0 ? this.o.sandboxUid : null,
    }).then(async (probe) => {
      if (probe.ok) return detectHostLayout();
      this.o.logger.warn(
        { reason: probe.reason },
        'bubblewrap unusable: stdio upstream servers cannot be sandboxed',
      );
      return null;
    });
    return this.sandbox;
  }

  private async writeStatus(
    server: RunnableServer,
    status: ServerStatus,
    error: string | null,
    restarted: boolean,
    era: string | null,
  ): Promise<void> {
    // Another start of the same server replaced this connection: its late reports are not the server's status.
    if (this.running.get(server.id)?.connection.server !== server) return;
    await this.writeStatusRow(server.id, {
      status,
      lastError: error,
      ...(restarted ? { restartCount: sql`${tables.mcpServerRuntime.restartCount} + 1` } : {}),
      ...(era ? { protocolEra: era } : {}),
    });
    if (status === 'error') {
      await recordAudit(this.o.db, {
        actorId: null,
        action: 'mcp_server.crashed',
        target: server.id,
        result: 'failure',
        ip: null,
        details: { name: server.name, error },
      }).catch(() => undefined);
      this.o.logger.warn({ server: server.name, error }, 'upstream MCP server failed');
    } else if (status === 'running') {
      this.o.logger.info({ server: server.name }, 'upstream MCP server running');
    }
  }

  private async writeStatusRow(
    id: string,
    values: {
      status: ServerStatus;
      lastError: string | null;
      restartCount?: ReturnType<typeof sql>;
      protocolEra?: string;
    },
  ): Promise<void> {
    const generation = this.held.get(id);
    if (generation === undefined) return; // the owner records the status
    await this.o.db
      .update(tables.mcpServerRuntime)
      .set({ ...values, changedAt: new Date(), updatedAt: new Date() })
      .where(this.o.leases.held(id, generation))
      .catch((err: unknown) =>
        this.o.logger.error({ err: (err as Error).message, server: id }, 'cannot record upstream status'),
      );
  }

  private async writeCatalog(server: RunnableServer, tools: CatalogTool[]): Promise<void> {
    const generation = this.held.get(server.id);
    if (generation === undefined) return; // the owner records the catalog and tells every instance
    await this.o.db
      .update(tables.mcpServerRuntime)
      .set({ catalog: tools, updatedAt: new Date() })
      .where(this.o.leases.held(server.id, generation));
    this.o.service.events.emit('change', {
      serverId: server.id,
      userId: server.shared ? null : server.ownerId,
      catalog: true,
    });
  }

  private async setEnabled(actor: Principal, id: string, enabled: boolean, ip: string | null): Promise<void> {
    await this.o.service.manageable(actor, id);
    await this.o.db.transaction(async (tx) => {
      await tx
        .update(tables.mcpServers)
        .set({ enabled, updatedAt: new Date() })
        .where(eq(tables.mcpServers.id, id));
      await recordAudit(tx, {
        actorId: actor.userId,
        action: enabled ? 'mcp_server.start' : 'mcp_server.stop',
        target: id,
        result: 'success',
        ip,
      });
    });
    const server = await this.o.service.runnable(id);
    this.o.service.events.emit('change', {
      serverId: id,
      userId: server?.shared ? null : (server?.ownerId ?? null),
    });
  }
}

interface ForwardError {
  kind: 'unavailable' | 'timeout' | 'protocol' | 'unauthorized';
  message: string;
}
type ForwardAnswer = { result: CallToolResult } | { error: ForwardError };

/** A failure reported by the owning instance, as the same error a local call would have thrown. */
function forwardedError(e: ForwardError): Error {
  switch (e.kind) {
    case 'timeout':
      return new ToolError('unavailable', 'The MCP server did not answer in time.');
    case 'protocol':
      return new ToolError('invalid_input', e.message);
    default:
      return new UpstreamUnavailable('The MCP server is not available right now.');
  }
}
