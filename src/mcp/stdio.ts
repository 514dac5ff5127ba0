import type { McpServer, Transport } from '@modelcontextprotocol/server';
import { serveStdio, type StdioServerHandle } from '@modelcontextprotocol/server/stdio';
import pino from 'pino';
import { createLogger, type Logger } from '../observability/logger.js';
import type { ArchiveLimits } from '../skills/package/index.js';
import { FolderSkillLibrary } from './folder-library.js';
import { buildMcpServer, type ToolRegistrar } from './server.js';

export interface StdioOptions {
  /** The folder whose skill sub-folders are served. */
  skillsDir: string;
  version: string;
  /** Must not write to stdout: stdout carries the protocol. */
  logger: Logger;
  limits?: ArchiveLimits;
  /** Tools other rooms add (the sandbox's run_shell_command), as on the HTTP server. */
  extraTools?: ToolRegistrar[];
  /** Watch the folder for changes (default true); calls re-check it in any case. */
  watch?: boolean;
  /** Another transport than the process's stdin/stdout (tests). */
  transport?: Transport;
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
 * it). The tool list itself never changes with the skills, so no `tools/list_changed` is sent for them.
 */
export async function serveFolderOverStdio(opts: StdioOptions): Promise<StdioSession> {
  const library = await new FolderSkillLibrary({
    root: opts.skillsDir,
    limits: opts.limits,
    logger: opts.logger,
    watch: opts.watch ?? true,
  }).open();
  const skills = await library.catalog();
  opts.logger.info({ folder: library.root, skills: skills.length }, 'serving skills over stdio');

  // serveStdio builds one instance per connection (plus a short-lived probe during version negotiation).
  const servers = new Set<McpServer>();
  const handle: StdioServerHandle = serveStdio(
    () => {
      const server = buildMcpServer({
        library,
        userId: null,
        logger: opts.logger,
        version: opts.version,
        extraTools: opts.extraTools,
      });
      servers.add(server);
      return server;
    },
    {
      onerror: (err) => opts.logger.debug({ err: err.message }, 'stdio protocol error'),
      ...(opts.transport ? { transport: opts.transport } : {}),
    },
  );

  const onChange = () => {
    for (const server of servers) {
      if (server.isConnected()) server.sendResourceListChanged();
      else if (servers.size > 1) servers.delete(server);
    }
  };
  library.events.on('change', onChange);

  return {
    library,
    async close() {
      library.events.off('change', onChange);
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
  /** Built with the logger this command writes to stderr (the sandbox's run_shell_command). */
  tools?: (logger: Logger) => Promise<{ registrars: ToolRegistrar[]; close(): Promise<void> }>;
}): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL || 'info', pino.destination({ fd: 2, sync: true }));
  const tools = await opts.tools?.(logger);
  const session = await serveFolderOverStdio({
    skillsDir: opts.skillsDir,
    version: opts.version,
    logger,
    extraTools: tools?.registrars,
  });
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
