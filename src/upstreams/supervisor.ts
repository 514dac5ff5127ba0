import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import type { Transport } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { recordAudit } from '../audit/service.js';
import { tables, type Database } from '../db/index.js';
import type { SettingsService } from '../admin/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
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
}

const STDERR_BYTES = 64 * 1024;

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
  private sandbox: Promise<HostLayout | null> | null = null;
  private closed = false;

  constructor(private readonly o: SupervisorOptions) {}

  /** Starts every enabled server (at start-up). */
  async startAll(): Promise<void> {
    await Promise.all((await this.o.service.allServers()).map((s) => this.reconcile(s.id)));
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
      if (!running) throw new UpstreamUnavailable('The MCP server is not running.');
      const result = await running.connection.callTool(tool, args, signal);
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

  /** Stops every server (shutdown): no process is left behind. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pending.values()]);
    await Promise.all([...this.running.keys()].map((id) => this.stopLocal(id)));
  }

  private async reconcileNow(id: string): Promise<void> {
    if (this.closed) return;
    const server = await this.o.service.runnable(id);
    const current = this.running.get(id);
    if (!server || !server.enabled) {
      if (current) await this.stopLocal(id, server ? 'stopped' : null);
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
    if (asRoot) chownSync(stateDir, this.o.sandboxUid, this.o.sandboxUid);
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
    await this.o.db
      .update(tables.mcpServerRuntime)
      .set({ ...values, changedAt: new Date(), updatedAt: new Date() })
      .where(eq(tables.mcpServerRuntime.serverId, id))
      .catch((err: unknown) =>
        this.o.logger.error({ err: (err as Error).message, server: id }, 'cannot record upstream status'),
      );
  }

  private async writeCatalog(server: RunnableServer, tools: CatalogTool[]): Promise<void> {
    await this.o.db
      .update(tables.mcpServerRuntime)
      .set({ catalog: tools, updatedAt: new Date() })
      .where(eq(tables.mcpServerRuntime.serverId, server.id));
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
