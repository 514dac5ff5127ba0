/**
 * Public types and defaults of the script sandbox. Pure data: no I/O here.
 */

/**
 * - `strict`: bubblewrap (all namespaces, read-only system, no network, only a size-capped work dir writable) + an
 *   unprivileged uid + rlimits. A full shell line is allowed because the sandbox is the boundary.
 * - `whitelist`: no namespaces. The command is parsed without a shell and must name an allowed interpreter and a
 *   script from the skill; it runs as an unprivileged uid with rlimits. The script itself can still read what that
 *   uid can read on the host and open network connections: use `strict` for untrusted multi-tenant use.
 * - `disabled`: `/bin/sh -c` as the server user, only env scrubbing, output caps, timeout and process-group kill.
 */
export type SecurityLevel = 'disabled' | 'whitelist' | 'strict';

export interface SandboxLimits {
  /** Wall-clock limit of one run (a request may ask for less, never more). */
  timeoutMs: number;
  /** Memory of each process: RLIMIT_DATA (and a memory cgroup when one is writable). */
  maxMemoryMb: number;
  /** CPU share over the run's wall-clock time: RLIMIT_CPU = ceil(timeout * percent), per process. */
  maxCpuPercent: number;
  /** Bytes kept per stream (stdout, stderr); the rest is drained and dropped. */
  maxOutputBytes: number;
  /** Processes/threads of the run (RLIMIT_NPROC, and pids.max when a pids cgroup is writable). */
  maxProcesses: number;
  /** Largest file the run may write (RLIMIT_FSIZE). */
  maxFileBytes: number;
  /**
   * Total bytes the run may write. Strict: the size of the work dir's tmpfs (/tmp included), a hard cap. Whitelist:
   * the work dir plus the run uid's files in /tmp, /var/tmp, /dev/shm, watched during the run (docs/sandbox.md).
   */
  maxWorkdirBytes: number;
  /** RLIMIT_NOFILE. */
  maxOpenFiles: number;
  maxInputFiles: number;
  maxInputBytes: number;
  /** A changed file is returned inline (with `data`) only up to this size… */
  maxReturnedFileBytes: number;
  /** …and while the inline total stays within this. */
  maxReturnedTotalBytes: number;
}

export interface SandboxConfig {
  level: SecurityLevel;
  /** Bare program names allowed in `whitelist` mode. `python` means python3. */
  allowedPrograms: string[];
  limits: SandboxLimits;
  perUserConcurrency: number;
  globalConcurrency: number;
  /** Parent of the per-run work dirs. Must not be inside the server's data dir. Created 0711 if missing. */
  workRoot: string;
  /** If given, `createSandbox` refuses a `workRoot` inside it. */
  dataDir?: string;
  /**
   * Unprivileged uid/gid the command runs as (needs a root server). `null`: keep the server's uid (a non-root
   * server); RLIMIT_NPROC then also counts the server's own threads.
   */
  runAsUid: number | null;
  runAsGid: number | null;
  /**
   * Optional distinct uids, one per concurrent run (used as uid and gid). Without it every run shares `runAsUid`,
   * which in `whitelist` mode means RLIMIT_NPROC is shared by concurrent runs and two concurrent runs could signal
   * or read each other. Must hold at least `globalConcurrency` entries.
   */
  uidPool?: number[];
  /** `auto` (default): use memory/pids cgroups (v1 or v2) below the server's own cgroup when writable. */
  cgroups?: 'auto' | 'off';
  /** Called with non-fatal problems (cleanup failures…). */
  onWarning?: (message: string, details?: unknown) => void;
}

export interface RunFile {
  path: string;
  data: Buffer;
  executable: boolean;
}

export interface RunRequest {
  userId: string;
  /** The skill's current version; copied into the work dir, never modified. */
  files: RunFile[];
  inputFiles?: Array<{ path: string; data: Buffer }>;
  command: string;
  timeoutMs?: number;
  /** Aborted when the caller gives up (a client disconnected): the run is killed like a timed-out one. */
  signal?: AbortSignal;
}

export type LimitHit =
  'timeout' | 'memory' | 'cpu' | 'output' | 'file_size' | 'processes' | 'workdir_size' | 'changed_files';

export interface ChangedFile {
  path: string;
  size: number;
  /** Present when the file is small enough to return inline. */
  data?: Buffer;
}

export interface RunResult {
  /** Null when the process was killed by a signal (in `strict` mode an exit status 129–159 counts as one). */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  limitsHit: LimitHit[];
  /** Regular files created or changed by the run, sorted by path (symlinks and special files are never read). */
  changedFiles: ChangedFile[];
}

export interface ProbeResult {
  ok: boolean;
  reason?: string;
}

export interface Sandbox {
  readonly level: SecurityLevel;
  run(req: RunRequest): Promise<RunResult>;
  /** Kills running commands, waits for them and removes the sandbox's helper dirs and cgroups. */
  close(): Promise<void>;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 30_000,
  maxMemoryMb: 512,
  maxCpuPercent: 50,
  maxOutputBytes: 64 * KiB,
  maxProcesses: 64,
  maxFileBytes: 16 * MiB,
  maxWorkdirBytes: 64 * MiB,
  maxOpenFiles: 256,
  maxInputFiles: 32,
  maxInputBytes: 8 * MiB,
  maxReturnedFileBytes: 256 * KiB,
  maxReturnedTotalBytes: 1 * MiB,
});

export const DEFAULT_ALLOWED_PROGRAMS: readonly string[] = Object.freeze([
  'python',
  'python3',
  'node',
  'bash',
  'sh',
]);

/** A full config from a few overrides (`workRoot` is required). */
export function defaultSandboxConfig(
  overrides: Partial<Omit<SandboxConfig, 'limits'>> & { workRoot: string; limits?: Partial<SandboxLimits> },
): SandboxConfig {
  const { limits, ...rest } = overrides;
  return {
    level: 'strict',
    allowedPrograms: [...DEFAULT_ALLOWED_PROGRAMS],
    perUserConcurrency: 2,
    globalConcurrency: 8,
    runAsUid: 65534,
    runAsGid: 65534,
    cgroups: 'auto',
    ...rest,
    limits: { ...DEFAULT_LIMITS, ...limits },
  };
}
