import { EventEmitter } from 'node:events';
import { and, asc, eq, notExists, or, sql, type SQL } from 'drizzle-orm';
import { recordAudit } from '../audit/index.js';
import { tables, type Database } from '../db/index.js';
import type { SettingsService } from '../admin/index.js';
import { badRequest, conflict, forbidden, notFound } from '../shared/errors.js';
import type { Principal } from '../shared/principal.js';
import type { SecretHolder } from '../shared/secret-rotation.js';
import { MASKED_SECRET, type SecretBox } from '../shared/secrets.js';
import { exposedNames } from './names.js';
import { may } from '../authz/index.js';
import { checkUrl } from './ssrf.js';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  type CatalogTool,
  type HttpConfig,
  type NetworkMode,
  type RunnableServer,
  type ServerStatus,
  type StdioConfig,
  type ToolRules,
  type Transport,
} from './types.js';

/** What a create or update may set (routes validate the shapes; the service checks the rules). */
export interface ServerInput {
  name: string;
  description?: string;
  transport: Transport;
  command?: string;
  args?: string[];
  cwd?: string | null;
  read_paths?: string[];
  network?: NetworkMode;
  /** Secret values; on update, `MASKED_SECRET` keeps the stored value and a name left out removes it. */
  env?: Record<string, string>;
  url?: string;
  headers?: Record<string, string>;
  enabled?: boolean;
  shared?: boolean;
  call_timeout_ms?: number;
  tool_allow?: string[] | null;
  tool_deny?: string[];
  tool_descriptions?: Record<string, string>;
}

export type ServerPatch = Partial<Omit<ServerInput, 'transport'>>;

export interface ServerView {
  id: string;
  name: string;
  description: string;
  transport: Transport;
  command: string | null;
  args: string[];
  cwd: string | null;
  read_paths: string[];
  network: NetworkMode | null;
  /** Names of the configured variables, values masked. */
  env: Record<string, string>;
  url: string | null;
  headers: Record<string, string>;
  enabled: boolean;
  shared: boolean;
  is_owner: boolean;
  hidden: boolean;
  call_timeout_ms: number;
  tool_allow: string[] | null;
  tool_deny: string[];
  tool_descriptions: Record<string, string>;
  status: ServerStatus;
  last_error: string | null;
  status_changed_at: string | null;
  restart_count: number;
  protocol_era: string | null;
  tools: Array<{ name: string; exposed_name: string; description: string; allowed: boolean }>;
  created_at: string;
  updated_at: string;
}

/** A change of a server: its owner's tools change, or everybody's for a shared one. */
export interface ServerChange {
  serverId: string;
  userId: string | null;
  /** Only the tool catalog changed (the definition did not: nothing to reconcile). */
  catalog?: boolean;
}

/** A user's own servers, at most. */
const MAX_SERVERS_PER_USER = 100;
const TABLE = 'mcp_servers';

type ServerRow = typeof tables.mcpServers.$inferSelect;
type RuntimeRow = typeof tables.mcpServerRuntime.$inferSelect;

/** An enabled server as the tool provider and search see it: who owns it, its tool rules and catalog. */
export interface ServerCatalog {
  id: string;
  name: string;
  shared: boolean;
  ownerId: string;
  tools: ToolRules;
  catalog: CatalogTool[];
}

/**
 * Upstream MCP servers as a resource: create, change, delete, hide, with the rules of `policy.ts`, the SSRF
 * guard on URLs, and secrets sealed at rest (bound to row and field). Emits `change` after every commit so the
 * supervisor reconciles and the tool provider drops the affected users' tool lists (bridged to other instances).
 */
export class UpstreamsService {
  readonly events = new EventEmitter<{ change: [ServerChange] }>();

  constructor(
    private readonly db: Database,
    private readonly box: SecretBox,
    private readonly settings: SettingsService,
  ) {
    this.events.setMaxListeners(0);
  }

  /** The servers `actor` sees: their own and the shared ones (hidden ones flagged), by name. */
  async list(actor: Principal): Promise<ServerView[]> {
    const s = tables.mcpServers;
    const rows = await this.db
      .select({ server: s, runtime: tables.mcpServerRuntime, hidden: this.hiddenFlag(actor.userId) })
      .from(s)
      .leftJoin(tables.mcpServerRuntime, eq(tables.mcpServerRuntime.serverId, s.id))
      .where(or(eq(s.ownerId, actor.userId), eq(s.shared, true)))
      .orderBy(asc(s.name), asc(s.id))
      .limit(1000);
    return rows.map((r) => this.view(actor, r.server, r.runtime, r.hidden));
  }

  async get(actor: Principal, id: string): Promise<ServerView> {
    const { server, runtime, hidden } = await this.visible(actor, id);
    return this.view(actor, server, runtime, hidden);
  }

  async create(actor: Principal, input: ServerInput, ip: string | null): Promise<ServerView> {
    const settings = await this.settings.get();
    if (!may(actor, 'mcp-servers.create', { transport: input.transport, stdio: settings.upstream_stdio })) {
      throw forbidden(
        settings.upstream_stdio === 'off'
          ? 'stdio servers are turned off on this Skillport'
          : 'Only administrators may add stdio servers',
      );
    }
    if (input.shared && !may(actor, 'mcp-servers.share'))
      throw forbidden('Only administrators may share servers');
    const { config, transport } = await this.configFor(actor, input.transport, input);
    const id = crypto.randomUUID();
    const secrets = this.sealAll(id, input.env ?? {}, input.headers ?? {}, {});
    const created = await this.db.transaction(async (tx) => {
      const [{ n }] = (await tx
        .select({ n: sql<number>`count(*)::int` })
        .from(tables.mcpServers)
        .where(eq(tables.mcpServers.ownerId, actor.userId))) as [{ n: number }];
      if (n >= MAX_SERVERS_PER_USER) throw conflict(`At most ${MAX_SERVERS_PER_USER} servers per user`);
      const [row] = await tx
        .insert(tables.mcpServers)
        .values({
          id,
          ownerId: actor.userId,
          name: input.name,
          description: input.description ?? '',
          transport,
          config,
          secrets,
          enabled: input.enabled ?? true,
          shared: input.shared ?? false,
          callTimeoutMs: input.call_timeout_ms ?? DEFAULT_CALL_TIMEOUT_MS,
          tools: rulesFrom(input, { allow: null, deny: [], descriptions: {} }),
        })
        .onConflictDoNothing()
        .returning();
      if (!row) throw conflict(`You already have a server named "${input.name}"`);
      await tx.insert(tables.mcpServerRuntime).values({ serverId: id });
      await audit(tx, actor, 'mcp_server.create', row, ip);
      return row;
    });
    this.changed(created);
    return this.get(actor, id);
  }

  async update(actor: Principal, id: string, patch: ServerPatch, ip: string | null): Promise<ServerView> {
    const { server } = await this.manageable(actor, id);
    if (patch.shared && !server.shared && !may(actor, 'mcp-servers.share'))
      throw forbidden('Only administrators may share servers');
    const merged: ServerInput = { ...currentInput(server), ...patch, transport: server.transport };
    const { config } = await this.configFor(actor, server.transport, merged, server);
    const secrets = this.sealAll(
      id,
      patch.env ?? maskedNames(server.secrets.env),
      patch.headers ?? maskedNames(server.secrets.headers),
      server.secrets,
    );
    const updated = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(tables.mcpServers)
        .set({
          name: merged.name,
          description: merged.description,
          config,
          secrets,
          enabled: merged.enabled,
          shared: merged.shared,
          callTimeoutMs: merged.call_timeout_ms,
          tools: rulesFrom(patch, server.tools),
          updatedAt: new Date(),
        })
        .where(eq(tables.mcpServers.id, id))
        .returning()
        .catch((err: unknown) => {
          if (isUniqueViolation(err)) throw conflict(`You already have a server named "${merged.name}"`);
          throw err;
        });
      await audit(tx, actor, 'mcp_server.update', row!, ip, { fields: Object.keys(patch) });
      return row!;
    });
    // A server that stops being shared leaves everybody's tool lists, not just the owner's.
    this.changed(updated.shared || server.shared ? { ...updated, shared: true } : updated);
    return this.get(actor, id);
  }

  async remove(actor: Principal, id: string, ip: string | null): Promise<void> {
    const { server } = await this.manageable(actor, id);
    await this.db.transaction(async (tx) => {
      await tx.delete(tables.mcpServers).where(eq(tables.mcpServers.id, id));
      await audit(tx, actor, 'mcp_server.delete', server, ip);
    });
    this.changed(server);
  }

  /** Hides a shared server from the actor's own view (its tools leave their tool list), or shows it again. */
  async setHidden(actor: Principal, id: string, hidden: boolean): Promise<ServerView> {
    const { server } = await this.visible(actor, id);
    if (!may(actor, 'mcp-servers.hide', server))
      throw badRequest('Only shared servers of others can be hidden');
    if (hidden) {
      await this.db
        .insert(tables.hiddenMcpServers)
        .values({ userId: actor.userId, serverId: id })
        .onConflictDoNothing();
    } else {
      await this.db
        .delete(tables.hiddenMcpServers)
        .where(
          and(eq(tables.hiddenMcpServers.userId, actor.userId), eq(tables.hiddenMcpServers.serverId, id)),
        );
    }
    this.events.emit('change', { serverId: id, userId: actor.userId });
    return this.get(actor, id);
  }

  /** The server if `actor` may manage it (start, stop, read its stderr); otherwise 404 or 403. */
  async manageable(actor: Principal, id: string): Promise<{ server: ServerRow }> {
    const { server } = await this.visible(actor, id);
    if (!may(actor, 'mcp-servers.manage', server)) throw forbidden('Only the owner may change this server');
    return { server };
  }

  /** What the tool provider needs for one user: every enabled server they see and have not hidden. */
  usableBy(userId: string): Promise<ServerCatalog[]> {
    const s = tables.mcpServers;
    const h = tables.hiddenMcpServers;
    return this.catalogs(
      or(
        eq(s.ownerId, userId),
        and(
          eq(s.shared, true),
          notExists(
            this.db
              .select({ one: sql`1` })
              .from(h)
              .where(and(eq(h.userId, userId), eq(h.serverId, s.id))),
          ),
        ),
      ),
    );
  }

  /** Every enabled server with its catalog, whoever sees it (what search indexes; callers filter by tool list). */
  enabledCatalogs(): Promise<ServerCatalog[]> {
    return this.catalogs();
  }

  /** The enabled servers matching `visible`, by name, each with its tool catalog. */
  private async catalogs(visible?: SQL): Promise<ServerCatalog[]> {
    const s = tables.mcpServers;
    const rows = await this.db
      .select({ server: s, catalog: tables.mcpServerRuntime.catalog })
      .from(s)
      .leftJoin(tables.mcpServerRuntime, eq(tables.mcpServerRuntime.serverId, s.id))
      .where(and(eq(s.enabled, true), visible))
      .orderBy(asc(s.name), asc(s.id));
    return rows.map(({ server, catalog }) => ({
      id: server.id,
      name: server.name,
      shared: server.shared,
      ownerId: server.ownerId,
      tools: server.tools,
      catalog: (catalog ?? []) as CatalogTool[],
    }));
  }

  /** Every server's id with whether it is enabled (the supervisor's reconcile list). */
  async allServers(): Promise<Array<{ id: string; enabled: boolean }>> {
    return this.db
      .select({ id: tables.mcpServers.id, enabled: tables.mcpServers.enabled })
      .from(tables.mcpServers);
  }

  /** A server as the supervisor runs it (secrets opened), or null when it is gone. */
  async runnable(id: string): Promise<RunnableServer | null> {
    const [row] = await this.db
      .select({ server: tables.mcpServers, isAdmin: tables.users.isAdmin })
      .from(tables.mcpServers)
      .innerJoin(tables.users, eq(tables.users.id, tables.mcpServers.ownerId))
      .where(eq(tables.mcpServers.id, id));
    if (!row) return null;
    const s = row.server;
    const open = (field: 'env' | 'headers') =>
      Object.fromEntries(
        Object.entries(s.secrets[field] ?? {}).map(([k, v]) => [
          k,
          this.box.open(v, { table: TABLE, id, field: `${field}.${k}` }),
        ]),
      );
    return {
      id,
      name: s.name,
      ownerId: s.ownerId,
      shared: s.shared,
      ownerIsAdmin: row.isAdmin,
      transport: s.transport,
      ...(s.transport === 'stdio'
        ? { stdio: s.config as unknown as StdioConfig }
        : { http: s.config as unknown as HttpConfig }),
      env: open('env'),
      headers: open('headers'),
      callTimeoutMs: s.callTimeoutMs,
      enabled: s.enabled,
      revision: `${s.updatedAt.getTime()}`,
    };
  }

  /** The sealed env and header values of every server, for `skillport secrets rotate`. */
  readonly secretHolder: SecretHolder = {
    name: TABLE,
    reseal: (reseal) =>
      this.db.transaction(async (tx) => {
        let changed = 0;
        const rows = await tx
          .select({ id: tables.mcpServers.id, secrets: tables.mcpServers.secrets })
          .from(tables.mcpServers)
          .for('update');
        for (const { id, secrets } of rows) {
          const next: ServerRow['secrets'] = {};
          for (const field of ['env', 'headers'] as const) {
            next[field] = Object.fromEntries(
              Object.entries(secrets[field] ?? {}).map(([k, v]) => {
                const resealed = reseal(v, { table: TABLE, id, field: `${field}.${k}` });
                if (resealed !== v) changed++;
                return [k, resealed];
              }),
            );
          }
          await tx.update(tables.mcpServers).set({ secrets: next }).where(eq(tables.mcpServers.id, id));
        }
        return changed;
      }),
  };

  private async visible(actor: Principal, id: string) {
    const s = tables.mcpServers;
    const [row] = await this.db
      .select({ server: s, runtime: tables.mcpServerRuntime, hidden: this.hiddenFlag(actor.userId) })
      .from(s)
      .leftJoin(tables.mcpServerRuntime, eq(tables.mcpServerRuntime.serverId, s.id))
      .where(eq(s.id, id));
    // Another user's private server answers exactly like a missing one.
    if (!row || !may(actor, 'mcp-servers.see', row.server)) throw notFound('No such MCP server');
    return row;
  }

  private hiddenFlag(userId: string) {
    const h = tables.hiddenMcpServers;
    return sql<boolean>`exists (select 1 from ${h} where ${h.userId} = ${userId} and ${h.serverId} = ${tables.mcpServers.id})`;
  }

  /** Checks the transport settings against the rules and the SSRF guard; returns what is stored as `config`. */
  private async configFor(
    actor: Principal,
    transport: Transport,
    input: ServerInput,
    current?: ServerRow,
  ): Promise<{ transport: Transport; config: Record<string, unknown> }> {
    if (transport === 'stdio') {
      if (!input.command) throw badRequest('A stdio server needs a command');
      const network = input.network ?? 'none';
      const currentNetwork = (current?.config as StdioConfig | undefined)?.network;
      if (network !== 'none' && network !== currentNetwork && !may(actor, 'mcp-servers.grantNetwork'))
        throw forbidden('Only administrators may give a stdio server network access');
      const config: StdioConfig = {
        command: input.command,
        args: input.args ?? [],
        cwd: input.cwd ?? null,
        readPaths: input.read_paths ?? [],
        network,
      };
      return { transport, config: config as unknown as Record<string, unknown> };
    }
    if (!input.url) throw badRequest('An HTTP or SSE server needs a url');
    const settings = await this.settings.get();
    // Administrators are trusted with their own URLs; users' URLs go through the SSRF guard.
    const trusted = actor.isAdmin;
    await checkUrl(input.url, {
      allowPrivate: trusted || settings.upstream_allow_private_networks,
      allowHttp: trusted || settings.upstream_allow_http,
    });
    const config: HttpConfig = { url: input.url };
    return { transport, config: config as unknown as Record<string, unknown> };
  }

  /**
   * Seals every value for this row; a value equal to the mask keeps the stored one (the console sends back what
   * it was shown). Names left out are removed.
   */
  private sealAll(
    id: string,
    env: Record<string, string>,
    headers: Record<string, string>,
    current: ServerRow['secrets'],
  ): ServerRow['secrets'] {
    const seal = (field: 'env' | 'headers', values: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(values).map(([k, v]) => {
          if (v === MASKED_SECRET) {
            const kept = current[field]?.[k];
            if (!kept) throw badRequest(`No stored value to keep for ${field} ${k}`);
            return [k, kept];
          }
          return [k, this.box.seal(v, { table: TABLE, id, field: `${field}.${k}` })];
        }),
      );
    return { env: seal('env', env), headers: seal('headers', headers) };
  }

  private view(actor: Principal, s: ServerRow, runtime: RuntimeRow | null, hidden: boolean): ServerView {
    const stdio = s.transport === 'stdio' ? (s.config as unknown as StdioConfig) : null;
    const catalog = (runtime?.catalog ?? []) as CatalogTool[];
    const names = exposedNames(
      s.name,
      catalog.map((t) => t.name),
    );
    return {
      id: s.id,
      name: s.name,
      description: s.description,
      transport: s.transport,
      command: stdio?.command ?? null,
      args: stdio?.args ?? [],
      cwd: stdio?.cwd ?? null,
      read_paths: stdio?.readPaths ?? [],
      network: stdio?.network ?? null,
      env: maskedNames(s.secrets.env),
      url: stdio ? null : (s.config as unknown as HttpConfig).url,
      headers: maskedNames(s.secrets.headers),
      enabled: s.enabled,
      shared: s.shared,
      is_owner: s.ownerId === actor.userId,
      hidden,
      call_timeout_ms: s.callTimeoutMs,
      tool_allow: s.tools.allow,
      tool_deny: s.tools.deny,
      tool_descriptions: s.tools.descriptions,
      status: runtime?.status ?? 'stopped',
      last_error: runtime?.lastError ?? null,
      status_changed_at: runtime?.changedAt.toISOString() ?? null,
      restart_count: runtime?.restartCount ?? 0,
      protocol_era: runtime?.protocolEra ?? null,
      tools: catalog
        .filter((t) => names.has(t.name))
        .map((t) => ({
          name: t.name,
          exposed_name: names.get(t.name)!,
          description: s.tools.descriptions[t.name] ?? t.description ?? '',
          allowed: toolAllowed(s.tools, t.name),
        })),
      created_at: s.createdAt.toISOString(),
      updated_at: s.updatedAt.toISOString(),
    };
  }

  private changed(server: ServerRow): void {
    this.events.emit('change', { serverId: server.id, userId: server.shared ? null : server.ownerId });
  }
}

/** Whether a server's rules let `tool` through. */
export const toolAllowed = (rules: ToolRules, tool: string) =>
  (rules.allow === null || rules.allow.includes(tool)) && !rules.deny.includes(tool);

const maskedNames = (values: Record<string, string> | undefined) =>
  Object.fromEntries(Object.keys(values ?? {}).map((k) => [k, MASKED_SECRET]));

function rulesFrom(input: Partial<ServerInput>, current: ToolRules): ToolRules {
  return {
    allow: input.tool_allow === undefined ? current.allow : input.tool_allow,
    deny: input.tool_deny ?? current.deny,
    descriptions: input.tool_descriptions ?? current.descriptions,
  };
}

function currentInput(s: ServerRow): ServerInput {
  const stdio = s.transport === 'stdio' ? (s.config as unknown as StdioConfig) : null;
  return {
    name: s.name,
    description: s.description,
    transport: s.transport,
    ...(stdio
      ? {
          command: stdio.command,
          args: stdio.args,
          cwd: stdio.cwd,
          read_paths: stdio.readPaths,
          network: stdio.network,
        }
      : { url: (s.config as unknown as HttpConfig).url }),
    enabled: s.enabled,
    shared: s.shared,
    call_timeout_ms: s.callTimeoutMs,
  };
}

/** Audit of a change: the server's name and transport, never its settings' values or secrets. */
function audit(
  tx: Parameters<typeof recordAudit>[0],
  actor: Principal,
  action: string,
  server: ServerRow,
  ip: string | null,
  extra: Record<string, unknown> = {},
) {
  return recordAudit(tx, {
    actorId: actor.userId,
    action,
    target: server.id,
    result: 'success',
    ip,
    details: { name: server.name, transport: server.transport, shared: server.shared, ...extra },
  });
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause)
    if ((e as { code?: string }).code === '23505') return true;
  return false;
}
