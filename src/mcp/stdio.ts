import type { McpServer, Transport } from '@modelcontextprotocol/server';
import { serveStdio, type StdioServerHandle } from '@modelcontextprotocol/server/stdio';
import pino from 'pino';
import { createLogger, type Logger } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';
import type { ArchiveLimits } from '../skills/package/index.js';
import {
  FolderSkillLibrary,
  skillLibraryTools,
  SkillViews,
  ToolRegistry,
  type ToolProvider,
} from '../tools/index.js';
import { buildMcpServer, refreshTools, skillsExtension } from './server.js';

/** Who acts in single-user local mode: the owner of the folder, with every tool permission. */
const LOCAL_PRINCIPAL: Principal = { userId: 'local', isAdmin: true, via: 'session', scopes: ['mcp'] };

/** A tool provider over the served folder's views (the sandbox's run_shell_command). */
export type FolderToolProvider = (views: SkillViews) => ToolProvider;

export interface StdioOptions {
  /** The folder whose skill sub-folders are served. */
  skillsDir: string;
  version: string;
  /** Must not write to stdout: stdout carries the protocol. */
  logger: Logger;
  limits?: ArchiveLimits;
  /**
   * Tools other rooms add (the sandbox's run_shell_command), as on the HTTP server. May still be in the making (the
   * sandbox probes bubblewrap): the folder is read meanwhile, and serving starts once both are ready.
   */
  extraTools?: FolderToolProvider[] | Promise<FolderToolProvider[]>;
  /** Watch the folder for changes (default true); calls re-check it in any case. */
  watch?: boolean;
  /** Another transport than the process's stdin/stdout (tests). */
  transport?: Transport;
  /**
   * Serve only these skills, as an API key restricted to them is served over HTTP: the tools, `skills/list` and
   * the resources see only them, and any other answers like a missing one (`--only-skills`).
   */
  onlySkills?: readonly string[];
}

export interface StdioSession {
  library: FolderSkillLibrary;
  close(): Promise<void>;
}

/**
 * `skillport stdio`: single-user local mode, as the original AgentSkills MCP ran. No accounts, no database: the
 * same tools and Skills-over-MCP resources as the HTTP server, served from a folder over stdin/stdout.
 *
 * When the folder's skills change, connected clients get `notifications/resources/list_changed`: unsolicited on a
 * 2025-era connection, on their `subscriptions/listen` stream on a 2026-07-28 one (the SDK's stdio entry routes
 * it). The tool list itself never changes with the skills; `tools/list_changed` is sent when a tool provider
 * reports a change of its list.
 */
export async function serveFolderOverStdio(opts: StdioOptions): Promise<StdioSession> {
  const [library, extraTools] = await Promise.all([
    new FolderSkillLibrary({
      root: opts.skillsDir,
      limits: opts.limits,
      logger: opts.logger,
      watch: opts.watch ?? true,
    }).open(),
    opts.extraTools ?? [],
  ]);
  const skills = await library.catalog();
  opts.logger.info({ folder: library.root, skills: skills.length }, 'serving skills over stdio');

  const views = new SkillViews(() => library);
  const registry = new ToolRegistry({ local: true });
  for (const provider of [skillLibraryTools, ...extraTools]) registry.register(provider(views));
  const principal: Principal = opts.onlySkills
    ? { ...LOCAL_PRINCIPAL, restriction: { skills: opts.onlySkills } }
    : LOCAL_PRINCIPAL;
  // The same per-credential view the HTTP edge builds (restrictLibrary), so a restriction holds here too.
  const extension = skillsExtension(views.libraryFor(principal), opts.logger);

  // serveStdio builds one instance per connection (plus a short-lived probe during version negotiation).
  const servers = new Set<McpServer>();
  const handle: StdioServerHandle = serveStdio(
    async () => {
      const server = buildMcpServer({
        registry,
        tools: await registry.toolsFor(principal),
        principal,
        logger: opts.logger,
        version: opts.version,
        skills: extension,
      });
      servers.add(server);
      return server;
    },
    {
      onerror: (err) => opts.logger.debug({ err: err.message }, 'stdio protocol error'),
      ...(opts.transport ? { transport: opts.transport } : {}),
    },
  );

  const tell = (notify: (server: McpServer) => void) => {
    for (const server of servers) {
      if (server.isConnected()) notify(server);
      else if (servers.size > 1) servers.delete(server);
    }
  };
  const onChange = () => tell((server) => server.sendResourceListChanged());
  const onToolsChange = () =>
    tell(
      (server) =>
        void refreshTools(server).catch((err: Error) =>
          opts.logger.warn({ err: err.message }, 'stdio tools not refreshed'),
        ),
    );
  library.events.on('change', onChange);
  registry.events.on('change', onToolsChange);

  return {
    library,
    async close() {
      library.events.off('change', onChange);
      registry.events.off('change', onToolsChange);
      await registry.close();
      library.close();
      await handle.close();
    },
  };
}

/**
 * The `skillport stdio` command: logs go to stderr (stdout is the protocol), and the process ends when the
 * client closes stdin or on SIGINT/SIGTERM.
 */
export async function runStdioCommand(opts: {
  skillsDir: string;
  version: string;
  onlySkills?: readonly string[];
  /** Built with the logger this command writes to stderr (the sandbox's run_shell_command). */
  tools?: (logger: Logger) => Promise<{ providers: FolderToolProvider[]; close(): Promise<void> }>;
}): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL || 'info', pino.destination({ fd: 2, sync: true }));
  const building = opts.tools?.(logger);
  let session: StdioSession;
  try {
    session = await serveFolderOverStdio({
      skillsDir: opts.skillsDir,
      version: opts.version,
      ...(opts.onlySkills ? { onlySkills: opts.onlySkills } : {}),
      logger,
      extraTools: building?.then((t) => t.providers),
    });
  } catch (err) {
    await building?.then((t) => t.close()).catch(() => undefined);
    throw err;
  }
  const tools = await building;
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'stdio server stopping');
    await session.close().catch(() => undefined);
    await tools?.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.stdin.once('end', () => void stop('stdin closed'));
}
