import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { workerIndex } from './workers.js';
import { ConfigError, type Env } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import {
  claimRunRoot,
  createSandbox,
  defaultSandboxConfig,
  probeBubblewrap,
  resolveSecurityLevel,
  type Sandbox,
} from '../sandbox/index.js';

/** The settings the sandbox is built from (the server's Config, or the bare environment in stdio mode). */
export type SandboxSettings = Pick<
  Env,
  | 'DATA_DIR'
  | 'COMMAND_SECURITY_LEVEL'
  | 'COMMAND_ALLOW_DISABLED'
  | 'COMMAND_ALLOWED_PROGRAMS'
  | 'COMMAND_TIMEOUT'
  | 'COMMAND_MAX_MEMORY_MB'
  | 'COMMAND_MAX_CPU_PERCENT'
  | 'COMMAND_MAX_OUTPUT_KB'
  | 'COMMAND_MAX_PROCESSES'
  | 'COMMAND_MAX_FILE_MB'
  | 'COMMAND_CONCURRENCY_PER_USER'
  | 'COMMAND_CONCURRENCY_GLOBAL'
>;

const MiB = 1024 * 1024;
/** First uid of the per-run pool; unassigned on Debian (system uids end at 999, users start at 1000). */
const SANDBOX_UID_BASE = 62_000;

/**
 * The parent of this server's run dirs: below one known dir per server user, so that the next start sweeps what a
 * server killed with SIGKILL left (see claimRunRoot). If someone else owns that dir (it is in the shared temp dir),
 * a private one of our own, without the sweep.
 */
async function claimWorkRoot(logger: Logger): Promise<string> {
  const parent = path.join(tmpdir(), `skillport-runs-${process.getuid?.() ?? 'user'}`);
  try {
    const { workRoot, swept } = await claimRunRoot(parent);
    if (swept > 0) logger.info({ swept }, 'removed run dirs left by stopped servers');
    return workRoot;
  } catch (err) {
    logger.warn(
      { parent, error: (err as Error).message },
      'cannot use the shared run dir parent; leftovers of a killed server will not be swept',
    );
    return mkdtemp(path.join(tmpdir(), 'skillport-runs-'));
  }
}

/**
 * Probes bubblewrap and builds the sandbox for run_shell_command at the configured (or best available) level.
 * `disabled` is refused unless COMMAND_ALLOW_DISABLED=true; a degraded level is reported in /ready.
 */
export async function createCommandSandbox(
  config: SandboxSettings,
  logger: Logger,
  warnings: string[],
): Promise<Sandbox> {
  if (config.COMMAND_SECURITY_LEVEL === 'disabled' && !config.COMMAND_ALLOW_DISABLED) {
    throw new ConfigError(
      'Invalid configuration:\n  COMMAND_SECURITY_LEVEL: "disabled" runs skill scripts without isolation; ' +
        'set COMMAND_ALLOW_DISABLED=true to allow it (development only)',
    );
  }
  const probe = await probeBubblewrap();
  const { level, warning } = resolveSecurityLevel(config.COMMAND_SECURITY_LEVEL, probe);
  if (warning) warnings.push(warning);
  const workRoot = await claimWorkRoot(logger);
  const isRoot = process.getuid?.() === 0;
  const sandbox = createSandbox(
    defaultSandboxConfig({
      level,
      workRoot,
      dataDir: path.resolve(config.DATA_DIR),
      allowedPrograms: config.COMMAND_ALLOWED_PROGRAMS,
      perUserConcurrency: config.COMMAND_CONCURRENCY_PER_USER,
      globalConcurrency: config.COMMAND_CONCURRENCY_GLOBAL,
      runAsUid: isRoot ? 65534 : null,
      runAsGid: isRoot ? 65534 : null,
      // A uid of its own per concurrent run: runs cannot signal or read each other, and process limits are per run.
      // Each worker of `serve --workers` has a range of its own (its runs are counted per process).
      uidPool: isRoot
        ? Array.from(
            { length: config.COMMAND_CONCURRENCY_GLOBAL },
            (_, i) => SANDBOX_UID_BASE + workerIndex() * config.COMMAND_CONCURRENCY_GLOBAL + i,
          )
        : undefined,
      onWarning: (message, details) => logger.warn({ details }, message),
      limits: {
        timeoutMs: config.COMMAND_TIMEOUT * 1000,
        maxMemoryMb: config.COMMAND_MAX_MEMORY_MB,
        maxCpuPercent: config.COMMAND_MAX_CPU_PERCENT,
        maxOutputBytes: config.COMMAND_MAX_OUTPUT_KB * 1024,
        maxProcesses: config.COMMAND_MAX_PROCESSES,
        maxFileBytes: config.COMMAND_MAX_FILE_MB * MiB,
      },
    }),
  );
  logger.info({ security_level: level }, 'command sandbox ready');
  return {
    level: sandbox.level,
    run: (req) => sandbox.run(req),
    async close() {
      await sandbox.close();
      await rm(workRoot, { recursive: true, force: true });
    },
  };
}
