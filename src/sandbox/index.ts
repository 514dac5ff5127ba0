/**
 * Script sandbox: runs a skill's script for a remote MCP client. Pure module (no DB, no HTTP).
 *
 * Usage: probe once at start-up, pick the level, create one sandbox, call `run` per tool call, `close` on shutdown.
 *
 *   const probe = await probeBubblewrap();
 *   const { level, warning } = resolveSecurityLevel(config.requestedLevel, probe);
 *   const { workRoot } = await claimRunRoot('/var/tmp/skillport-runs'); // sweeps dead servers' leftovers
 *   const sandbox = createSandbox(defaultSandboxConfig({ level, workRoot }));
 */
import { InvalidInputError, UnavailableError } from '../shared/errors.js';
import type { ProbeResult, SecurityLevel } from './types.js';

export type {
  ChangedFile,
  LimitHit,
  ProbeResult,
  RunFile,
  RunRequest,
  RunResult,
  Sandbox,
  SandboxConfig,
  SandboxLimits,
  SecurityLevel,
} from './types.js';
export { defaultSandboxConfig } from './types.js';
export { createSandbox } from './sandbox.js';
export { probeBubblewrap } from './bwrap.js';
export { parseWhitelistCommand } from './command-parse.js';
export { claimRunRoot, sweepStaleRunRoots } from './runroot.js';

/**
 * Chooses the level to run with.
 * - nothing requested: `strict` when bubblewrap works, else `whitelist` with a warning;
 * - `strict` requested but bubblewrap does not work: throws (fail closed: an operator who asked for isolation must
 *   not silently get less);
 * - `whitelist`: as asked, with a warning that scripts are not isolated from the host's files and network;
 * - `disabled`: as asked, with a loud warning.
 */
export function resolveSecurityLevel(
  requested: SecurityLevel | undefined,
  probe: ProbeResult,
): { level: SecurityLevel; warning?: string } {
  const why = probe.reason ? ` (${probe.reason})` : '';
  switch (requested) {
    case undefined:
      return probe.ok
        ? { level: 'strict' }
        : {
            level: 'whitelist',
            warning: `bubblewrap is not usable${why}: falling back to the 'whitelist' sandbox level, which does not isolate scripts from the host's files and network`,
          };
    case 'strict':
      if (!probe.ok) {
        throw new UnavailableError(
          'sandbox_unavailable',
          `Sandbox level 'strict' was requested but bubblewrap is not usable${why}`,
        );
      }
      return { level: 'strict' };
    case 'whitelist':
      return {
        level: 'whitelist',
        warning:
          "sandbox level 'whitelist': commands are checked and run unprivileged with resource limits, but scripts can read world-readable host files and use the network",
      };
    case 'disabled':
      return {
        level: 'disabled',
        warning:
          "sandbox level 'disabled': skill scripts run WITHOUT isolation as the server user; never expose this to untrusted users",
      };
    default:
      throw new InvalidInputError('bad_request', `Unknown sandbox level ${JSON.stringify(requested)}`);
  }
}
export { serviceArgv, SERVICE_STATE_DIR, type ServiceSpec } from './service.js';
export { detectHostLayout, type HostLayout } from './bwrap.js';
