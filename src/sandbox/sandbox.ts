import { accessSync, constants, statSync } from 'node:fs';
import { access, chmod, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { randomHex } from '../shared/crypto.js';
import {
  InvalidInputError,
  PayloadTooLargeError,
  RateLimitedError,
  UnavailableError,
} from '../shared/errors.js';
import {
  BWRAP,
  PRLIMIT,
  SANDBOX_WORKDIR,
  SETPRIV,
  buildBwrapArgs,
  bwrapSupportsDisableUserns,
  detectHostLayout,
  type HostLayout,
} from './bwrap.js';
import { detectCgroups, type CgroupManager, type CgroupRun } from './cgroup.js';
import { BLOCKED_PROGRAMS, parseWhitelistCommand, plainCommandArgv, refuse } from './command.js';
import { CappedCapture, SCAN_BUDGET } from './output.js';
import { SpawnHelper, type ProcessExit, type SpawnedProcess } from './spawner.js';
import { isInside } from './paths.js';
import { killGroup, killMatching, procHidesOtherUids, waitForExit } from './procs.js';
import {
  PERL_STARTUP_ENV,
  launcherArgv,
  launcherParams,
  launcherAvailable,
  nativeSyscalls,
  parseReaperLine,
  type Rlimit,
} from './reaper.js';
import { measureSharedTemp, sweepSharedTemp } from './shared-temp.js';
import {
  RUNNER_FD,
  collectFromSandbox,
  mountNamespaceOf,
  listenToRunner,
  runnerArgv,
  workdirUsage,
} from './strict-runner.js';
import type { LimitHit, RunRequest, RunResult, Sandbox, SandboxConfig, SecurityLevel } from './types.js';
import {
  MAX_SCANNED_ENTRIES,
  type CollectResult,
  TMP_DIR_NAME,
  collectChanges,
  ensureWorkRoot,
  measureDir,
  planFiles,
  prepareWorkdir,
  removeWorkdir,
} from './workdir.js';

const MiB = 1024 * 1024;
const SEARCH_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];
const SANDBOX_PATH = SEARCH_PATH.join(':');
const MAX_STRICT_COMMAND_LENGTH = 64 * 1024;
/** Skill files + input files written into one work dir. */
const MAX_FILES = 4096;
/**
 * Address-space headroom above maxMemoryMb. RLIMIT_AS counts reservations, and V8 alone reserves ~512 MiB of
 * address space for its code range at start-up (node does not even start under `--as=512M`), so RLIMIT_AS cannot be
 * the memory limit. The real per-process limit is RLIMIT_DATA (private writable memory actually mapped: heap,
 * malloc, Buffers), plus the run's memory cgroup when one is writable. RLIMIT_AS stays as a coarse backstop for
 * what RLIMIT_DATA does not count (shared anonymous mappings).
 */
const ADDRESS_SPACE_HEADROOM_MB = 1024;
const WATCHDOG_INTERVAL_MS = 250;
/** How long the reaper gets to exit by itself after the command ended before we go looking for leftovers. */
const REAPER_QUICK_EXIT_MS = 30;
/** After the main process exits, how long its pipes may stay open before we stop reading them. */
const PIPE_GRACE_MS = 1000;
/** After a kill, how long to wait for the `exit` event before giving up on the process. */
const EXIT_GRACE_MS = 5000;

const STDERR_MARKERS: ReadonlyArray<readonly [LimitHit, RegExp]> = [
  [
    'memory',
    /MemoryError|Cannot allocate memory|[Aa]llocation failed|out of memory|\bENOMEM\b|std::bad_alloc/,
  ],
  [
    'processes',
    /fork: (?:retry: )?Resource temporarily unavailable|[Cc]an(?:'|no)t fork|BlockingIOError: \[Errno 11\]|\bEAGAIN\b/,
  ],
  ['file_size', /File too large|\bEFBIG\b|File size limit exceeded/],
];
/** Strict only: the work dir is the run's only writable file system, so "disk full" is its limit. */
const WORKDIR_FULL_MARKER: readonly [LimitHit, RegExp] = [
  'workdir_size',
  /No space left on device|\bENOSPC\b/,
];

/** The order of `RunResult.limitsHit`. */
const LIMIT_ORDER: readonly LimitHit[] = [
  'timeout',
  'cpu',
  'memory',
  'processes',
  'file_size',
  'workdir_size',
  'output',
  'changed_files',
];

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(osConstants.signals).map(([name, num]) => [num as number, name]),
);

/** The fixed environment of every run: nothing is inherited from the server. */
function sandboxEnv(home: string): Record<string, string> {
  return {
    PATH: SANDBOX_PATH,
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: `${home}/${TMP_DIR_NAME}`,
    // Keeps imports of the skill's own modules from writing __pycache__ into the work dir (noise in changedFiles).
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/** The promise's value, or null if it does not settle within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([p, new Promise<null>((res) => (t = setTimeout(() => res(null), ms)))]);
  clearTimeout(t);
  return r;
}

function resolveProgram(name: string): string | null {
  for (const dir of SEARCH_PATH) {
    const p = `${dir}/${name}`;
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

interface Slot {
  userId: string;
  uid: number | null;
  gid: number | null;
  /** True when no other concurrent run can have this uid (a pool uid). */
  dedicatedUid: boolean;
}

interface Prepared {
  workRoot: string;
  etcDir: string;
  layout: HostLayout;
  disableUserns: boolean;
  cgroups: CgroupManager | null;
  localtimeTarget?: string;
  hasAlternatives: boolean;
  hasLdSoCache: boolean;
  /** /usr/bin/perl exists: runs start through the launcher (see reaper.ts). */
  launcher: boolean;
  /**
   * Whitelist only: runs may overlap, because each has a uid of its own and /proc is mounted with hidepid, so no
   * run can read another's command line. Otherwise whitelist runs execute one at a time.
   */
  concurrentWhitelist: boolean;
}

function validateConfig(config: SandboxConfig): void {
  const l = config.limits;
  const positive: Array<[string, number]> = [
    ['timeoutMs', l.timeoutMs],
    ['maxMemoryMb', l.maxMemoryMb],
    ['maxCpuPercent', l.maxCpuPercent],
    ['maxOutputBytes', l.maxOutputBytes],
    ['maxProcesses', l.maxProcesses],
    ['maxFileBytes', l.maxFileBytes],
    ['maxWorkdirBytes', l.maxWorkdirBytes],
    ['maxOpenFiles', l.maxOpenFiles],
    ['perUserConcurrency', config.perUserConcurrency],
    ['globalConcurrency', config.globalConcurrency],
  ];
  for (const [name, v] of positive) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`sandbox config: ${name} must be a positive number`);
  }
  if (!path.isAbsolute(config.workRoot)) throw new Error('sandbox config: workRoot must be an absolute path');
  if (config.dataDir && isInside(path.resolve(config.dataDir), path.resolve(config.workRoot))) {
    throw new Error('sandbox config: workRoot must be outside the data dir');
  }
  for (const p of config.allowedPrograms) {
    if (BLOCKED_PROGRAMS.has(p)) throw new Error(`sandbox config: '${p}' cannot be an allowed program`);
    if (!/^[A-Za-z0-9._+-]+$/.test(p))
      throw new Error(`sandbox config: invalid program name ${JSON.stringify(p)}`);
  }
  const isRoot = process.getuid?.() === 0;
  if (config.level !== 'disabled') {
    if (isRoot && config.runAsUid === null) {
      throw new Error('sandbox config: refusing to run scripts as root; set runAsUid/runAsGid (e.g. 65534)');
    }
    if (!isRoot && config.runAsUid !== null && config.runAsUid !== process.getuid?.()) {
      throw new Error('sandbox config: switching to runAsUid needs a root server; set runAsUid: null');
    }
    if (config.uidPool && config.uidPool.length < config.globalConcurrency) {
      throw new Error('sandbox config: uidPool needs at least globalConcurrency entries');
    }
    for (const u of [config.runAsUid, config.runAsGid, ...(config.uidPool ?? [])]) {
      if (u === 0) throw new Error('sandbox config: uid/gid 0 is not allowed');
    }
  }
}

type Exit = ProcessExit;

/** A spawned run: its process tree, its pipes, and what the launcher and bwrap reported about it. */
interface Launched {
  child: SpawnedProcess;
  startedAt: number;
  /** The spawned process' group (it is the group leader). */
  pgid: number;
  /** With the reaper: its pid (= pgid); otherwise -1. */
  reaperPid: number;
  useReaper: boolean;
  /** With the reaper: the command's own pid (and process group), once reported; 0 before. */
  mainPid: number;
  /** A kill asked for before the command's pid was known: done when it arrives. */
  killRequested: boolean;
  /** Strict: host pid of the sandbox's pid 1, once bwrap reported it; 0 before. */
  nsInitPid: number;
  sandboxMountNs: Promise<string | null>;
  /** The command's end: the launcher's status line, the runner's report, or the process exit. */
  mainExited: Promise<Exit>;
  /** The spawned process' own exit (the reaper's, when there is one). */
  processExited: Promise<Exit>;
  resolveMain(e: Exit): void;
  statusFd: Readable | null;
  infoFd: Readable | null;
  infoClosed: Promise<void>;
  runnerFd: Duplex | null;
  runner: { readonly exitCode: number | null; readonly noSpace: boolean };
  streamsClosed: Promise<unknown>;
  stdout: CappedCapture;
  stderr: CappedCapture;
  /** Kills the command and all it started; the reaper stays to reap them (then exits by itself). */
  kill(): void;
  /** Kills every process of the run except the reaper; resolves to how many were found. */
  sweep(): Promise<number>;
}

const fdClosed = (fd: Readable | null | undefined): Promise<void> =>
  fd
    ? new Promise<void>((r) => {
        fd.once('close', () => r());
        fd.once('error', () => r());
      })
    : Promise.resolve();

export function createSandbox(config: SandboxConfig): Sandbox {
  validateConfig(config);
  const limits = { ...config.limits };
  const level: SecurityLevel = config.level;
  const allowed = [...config.allowedPrograms];
  const programPaths = new Map<string, string | null>();
  for (const p of allowed) {
    const name = p === 'python' ? 'python3' : p;
    programPaths.set(name, resolveProgram(name));
  }
  const warn = (message: string, details?: unknown) => config.onWarning?.(message, details);

  let closed = false;
  let globalActive = 0;
  const perUser = new Map<string, number>();
  const freeUids = config.uidPool ? [...config.uidPool] : null;
  const active = new Set<{ kill: () => void; done: Promise<unknown> }>();

  // Whitelist runs have no pid namespace: without hidepid they would see each other's command lines in /proc.
  let whitelistTail: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = whitelistTail.then(fn, fn);
    whitelistTail = next.catch(() => undefined);
    return next;
  };

  // Runs are spawned from a small helper process, never from the server's own (large) one: see spawner.ts.
  let helper: Promise<SpawnHelper> | null = null;
  const spawnHelper = (): Promise<SpawnHelper> => {
    const current = (helper ??= SpawnHelper.start());
    return current.then(
      (h) => {
        if (h.alive) return h;
        if (helper === current) helper = null; // it died: this run starts a new one
        return spawnHelper();
      },
      (err: Error) => {
        if (helper === current) helper = null;
        throw new UnavailableError('sandbox_unavailable', `Sandbox cannot start: ${err.message}`);
      },
    );
  };

  let preparing: Promise<Prepared> | null = null;
  const prepare = (): Promise<Prepared> => {
    preparing ??= (async () => {
      const launcher = launcherAvailable();
      if (!launcher && level !== 'disabled') {
        throw new Error('/usr/bin/perl is missing (Debian/Ubuntu: perl-base); the sandbox launcher needs it');
      }
      const workRoot = await ensureWorkRoot(config.workRoot);
      const etcDir = path.join(workRoot, `.etc-${randomHex(4)}`);
      await mkdir(etcDir, { mode: 0o755 });
      await chmod(etcDir, 0o755);
      const uids = [config.runAsUid ?? process.getuid?.() ?? 65534, ...(config.uidPool ?? [])];
      const gid = config.runAsGid ?? process.getgid?.() ?? 65534;
      const passwd = ['root:x:0:0:root:/root:/usr/sbin/nologin']
        .concat(
          uids.map((u, i) => `sandbox${i || ''}:x:${u}:${i ? u : gid}:sandbox:${SANDBOX_WORKDIR}:/bin/sh`),
        )
        .join('\n');
      const groups = ['root:x:0:']
        .concat([...new Set([gid, ...(config.uidPool ?? [])])].map((g, i) => `sandbox${i || ''}:x:${g}:`))
        .join('\n');
      await writeFile(path.join(etcDir, 'passwd'), passwd + '\n', { mode: 0o644 });
      await writeFile(path.join(etcDir, 'group'), groups + '\n', { mode: 0o644 });
      await writeFile(path.join(etcDir, 'hosts'), '127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n', {
        mode: 0o644,
      });
      await writeFile(path.join(etcDir, 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files\n', {
        mode: 0o644,
      });
      const exists = (p: string) =>
        access(p).then(
          () => true,
          () => false,
        );
      const localtime = await readlink('/etc/localtime').catch(() => null);
      const cgroups =
        level !== 'disabled' && (config.cgroups ?? 'auto') === 'auto'
          ? await detectCgroups().catch(() => null)
          : null;
      return {
        workRoot,
        etcDir,
        layout: await detectHostLayout(),
        disableUserns: level === 'strict' ? await bwrapSupportsDisableUserns() : false,
        cgroups,
        ...(localtime && localtime.startsWith('/usr/') ? { localtimeTarget: localtime } : {}),
        hasAlternatives: await exists('/etc/alternatives'),
        hasLdSoCache: await exists('/etc/ld.so.cache'),
        launcher,
        concurrentWhitelist:
          freeUids !== null &&
          procHidesOtherUids(await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')),
      };
    })();
    preparing.catch(() => {
      preparing = null; // allow a retry after e.g. a transient mkdir failure
    });
    return preparing;
  };

  function acquire(userId: string): Slot {
    const mine = perUser.get(userId) ?? 0;
    if (globalActive >= config.globalConcurrency || mine >= config.perUserConcurrency) {
      throw new RateLimitedError(
        'sandbox_busy',
        mine >= config.perUserConcurrency
          ? `Too many scripts running for this user (limit ${config.perUserConcurrency}); try again later`
          : `Too many scripts running on this server (limit ${config.globalConcurrency}); try again later`,
        { perUserLimit: config.perUserConcurrency, globalLimit: config.globalConcurrency },
      );
    }
    let uid: number | null = config.runAsUid;
    let gid: number | null = config.runAsGid;
    let dedicatedUid = false;
    if (freeUids && level !== 'disabled') {
      const u = freeUids.shift();
      if (u === undefined) throw new RateLimitedError('sandbox_busy', 'No free sandbox uid; try again later');
      uid = u;
      gid = u;
      dedicatedUid = true;
    }
    if (level === 'disabled') {
      uid = null;
      gid = null;
    }
    globalActive++;
    perUser.set(userId, mine + 1);
    return { userId, uid, gid, dedicatedUid };
  }

  function release(slot: Slot): void {
    globalActive--;
    const n = (perUser.get(slot.userId) ?? 1) - 1;
    if (n <= 0) perUser.delete(slot.userId);
    else perUser.set(slot.userId, n);
    if (slot.dedicatedUid && slot.uid !== null && freeUids) freeUids.push(slot.uid);
  }

  async function run(req: RunRequest): Promise<RunResult> {
    // Everything up to acquire() is synchronous, so refusals and 429s come back at once.
    if (closed) throw new UnavailableError('sandbox_closed', 'The sandbox is shutting down');
    if (!req || typeof req.userId !== 'string' || req.userId === '') {
      throw new InvalidInputError('bad_request', 'userId is required');
    }
    if (typeof req.command !== 'string') throw new InvalidInputError('bad_request', 'command is required');
    if (!Array.isArray(req.files)) throw new InvalidInputError('bad_request', 'files must be an array');
    const inputFiles = req.inputFiles ?? [];
    if (!Array.isArray(inputFiles)) throw new InvalidInputError('bad_request', 'inputFiles must be an array');
    if (inputFiles.length > limits.maxInputFiles) {
      throw new PayloadTooLargeError('payload_too_large', `At most ${limits.maxInputFiles} input files`, {
        limit: limits.maxInputFiles,
      });
    }
    const inputBytes = inputFiles.reduce((n, f) => n + (Buffer.isBuffer(f?.data) ? f.data.length : 0), 0);
    if (inputBytes > limits.maxInputBytes) {
      throw new PayloadTooLargeError(
        'payload_too_large',
        `Input files exceed ${limits.maxInputBytes} bytes`,
        {
          limit: limits.maxInputBytes,
        },
      );
    }
    if (req.files.length + inputFiles.length > MAX_FILES) {
      throw new PayloadTooLargeError('payload_too_large', `At most ${MAX_FILES} files per run`, {
        limit: MAX_FILES,
      });
    }
    const planned = planFiles(req.files, inputFiles);
    const plannedBytes = planned.reduce((n, f) => n + f.data.length, 0);
    if (plannedBytes > limits.maxWorkdirBytes) {
      throw new PayloadTooLargeError(
        'payload_too_large',
        `Skill and input files exceed ${limits.maxWorkdirBytes} bytes`,
        {
          limit: limits.maxWorkdirBytes,
        },
      );
    }
    let timeoutMs = limits.timeoutMs;
    if (req.timeoutMs !== undefined) {
      if (!Number.isFinite(req.timeoutMs) || req.timeoutMs <= 0) {
        throw new InvalidInputError('bad_request', 'timeoutMs must be a positive number');
      }
      timeoutMs = Math.min(req.timeoutMs, limits.timeoutMs);
    }

    let program: string | null = null;
    let programArgs: string[] = [];
    if (level === 'whitelist') {
      const parsed = parseWhitelistCommand(req.command, {
        allowedPrograms: allowed,
        knownFiles: new Set(planned.map((f) => f.path)),
      });
      program = programPaths.get(parsed.program) ?? null;
      if (!program)
        throw refuse('program_not_allowed', `'${parsed.program}' is not installed`, parsed.program);
      programArgs = parsed.args;
    } else {
      if (req.command.trim() === '') throw refuse('empty', 'empty command');
      if (req.command.length > MAX_STRICT_COMMAND_LENGTH) throw refuse('too_long', 'command too long');
      if (req.command.includes('\0')) throw refuse('control_characters', 'NUL in command');
    }

    const slot = acquire(req.userId);
    let kill: () => void = () => undefined;
    const handle = { kill: () => kill(), done: Promise.resolve() as Promise<unknown> };
    const work = (async () => {
      const prep = await prepare().catch((err: Error) => {
        throw new UnavailableError('sandbox_unavailable', `Sandbox cannot start: ${err.message}`);
      });
      const go = () =>
        execute(req.command, program, programArgs, planned, timeoutMs, slot, prep, (k) => {
          kill = k;
          if (req.signal?.aborted) k(); // given up on while the run was being prepared
        });
      return level === 'whitelist' && !prep.concurrentWhitelist ? oneAtATime(go) : go();
    })();
    handle.done = work.catch(() => undefined);
    active.add(handle);
    const onAbort = () => handle.kill();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await work;
    } finally {
      req.signal?.removeEventListener('abort', onAbort);
      active.delete(handle);
      release(slot);
    }
  }

  async function execute(
    command: string,
    program: string | null,
    programArgs: string[],
    planned: ReturnType<typeof planFiles>,
    timeoutMs: number,
    slot: Slot,
    prep: Prepared,
    setKill: (k: () => void) => void,
  ): Promise<RunResult> {
    let cg: CgroupRun | null = null;
    let dir: string | null = null;
    let ended = false;
    try {
      // Independent of each other: prepared together.
      const [work, runCg, spawner] = await Promise.allSettled([
        prepareWorkdir(prep.workRoot, planned, { uid: slot.uid, gid: slot.gid, tmpDir: level !== 'strict' }),
        runCgroup(prep),
        spawnHelper(),
      ]);
      cg = runCg.status === 'fulfilled' ? runCg.value : null;
      if (work.status === 'rejected') throw work.reason;
      dir = work.value.dir;
      const manifest = work.value.manifest;
      if (spawner.status === 'rejected') throw spawner.reason;
      const helper = spawner.value;
      const { argv, env, params } = commandLine({
        command,
        program,
        programArgs,
        timeoutMs,
        slot,
        prep,
        dir,
        cg,
      });
      const run = await launch(helper, params ?? { argv, env }, dir, slot, prep, cg);
      setKill(run.kill);
      const hits = new Set<LimitHit>();
      const { exit, durationMs, timedOut } = await watchLimits(run, timeoutMs, dir, slot, hits);
      if (exit.error) {
        throw new UnavailableError('sandbox_unavailable', `Sandbox cannot start: ${exit.error.message}`);
      }
      const strictCollected = await collectStrictRun(run, manifest, hits);
      await endRun(run, exit, timedOut, cg);
      ended = true;
      return await results({
        run,
        exit,
        durationMs,
        timedOut,
        hits,
        cg,
        dir,
        manifest,
        slot,
        strictCollected,
      });
    } finally {
      // endRun() made sure no process of the run is left; on any other way out, the cgroup's kill does.
      if (cg && !ended) await cg.killAll(2000).catch(() => undefined);
      if (cg) {
        await cg
          .remove()
          .catch((err: Error) => warn('sandbox: could not remove a run cgroup', { error: err.message }));
      }
      if (dir) {
        const runDir = dir;
        await removeWorkdir(runDir).catch((err: Error) =>
          warn('sandbox: could not remove a work dir', { dir: runDir, error: err.message }),
        );
      }
    }
  }

  /** The run's own cgroup (memory and pids limits), when the host delegates one; the run goes on without. */
  async function runCgroup(prep: Prepared): Promise<CgroupRun | null> {
    if (!prep.cgroups) return null;
    return prep.cgroups
      .createRun({ memoryBytes: limits.maxMemoryMb * MiB, pids: limits.maxProcesses })
      .catch((err: Error) => {
        warn('sandbox: could not create a cgroup for the run', { error: err.message });
        return null;
      });
  }

  /**
   * What starts the command at this level (privilege drop, bwrap, rlimits) and its environment; with the
   * launcher, as the parameters to write to it (launcherParams).
   */
  function commandLine(run: {
    command: string;
    program: string | null;
    programArgs: string[];
    timeoutMs: number;
    slot: Slot;
    prep: Prepared;
    dir: string;
    cg: CgroupRun | null;
  }): { argv: string[]; env: Record<string, string>; params: Buffer | null } {
    const { command, slot, prep, dir, cg } = run;
    const hasPidsCgroup = cg !== null && prep.cgroups!.controllers.includes('pids');
    const cpuSeconds = Math.max(1, Math.ceil(((run.timeoutMs / 1000) * limits.maxCpuPercent) / 100));
    // RLIMIT_NPROC counts per uid. Strict: applied inside the user namespace, so per run. Whitelist with a uid
    // shared by concurrent runs: per run only through the pids cgroup, the rlimit then caps all of them together.
    const nproc =
      level === 'whitelist' && !slot.dedicatedUid && hasPidsCgroup
        ? limits.maxProcesses * config.globalConcurrency
        : limits.maxProcesses;
    const as = (limits.maxMemoryMb + ADDRESS_SPACE_HEADROOM_MB) * MiB;
    const rlimits: Rlimit[] = [
      { name: 'as', soft: as, hard: as },
      { name: 'data', soft: limits.maxMemoryMb * MiB, hard: limits.maxMemoryMb * MiB },
      { name: 'cpu', soft: cpuSeconds, hard: cpuSeconds + 1 },
      { name: 'fsize', soft: limits.maxFileBytes, hard: limits.maxFileBytes },
      { name: 'nproc', soft: nproc, hard: nproc },
      { name: 'nofile', soft: limits.maxOpenFiles, hard: limits.maxOpenFiles },
      { name: 'core', soft: 0, hard: 0 },
    ];
    // Where the syscall numbers are known, the launcher's child drops the privileges and the runner (strict) or
    // the launcher's child (whitelist) sets the rlimits; elsewhere setpriv and prlimit do, as programs of the chain.
    const native = nativeSyscalls() !== null;
    const drop = slot.uid !== null && slot.gid !== null ? { uid: slot.uid, gid: slot.gid } : null;
    const privDrop = native
      ? []
      : drop
        ? [
            SETPRIV,
            `--reuid=${drop.uid}`,
            `--regid=${drop.gid}`,
            '--clear-groups',
            '--no-new-privs',
            '--inh-caps=-all',
            '--bounding-set=-all',
            '--',
          ]
        : [SETPRIV, '--no-new-privs', '--'];
    const prlimit = native ? [] : [PRLIMIT, ...rlimits.map((r) => `--${r.name}=${r.soft}:${r.hard}`), '--'];

    // The launcher (reaper.ts) runs it: cgroup, subreaper, confinement. perl is required for strict/whitelist
    // (checked in prepare()).
    let inner: string[];
    let env: Record<string, string>;
    let confine: Parameters<typeof launcherParams>[0]['confine'] = null;
    if (level === 'strict') {
      const bw = buildBwrapArgs({
        inputDir: dir,
        etcDir: prep.etcDir,
        env: { ...sandboxEnv(SANDBOX_WORKDIR), ...PERL_STARTUP_ENV },
        layout: prep.layout,
        workdirBytes: limits.maxWorkdirBytes,
        shmBytes: limits.maxFileBytes,
        disableUserns: prep.disableUserns,
        hasAlternatives: prep.hasAlternatives,
        hasLdSoCache: prep.hasLdSoCache,
        ...(prep.localtimeTarget ? { localtimeTarget: prep.localtimeTarget } : {}),
      });
      // --info-fd: bwrap tells us the host pid of the sandbox's pid 1 (see listenToBwrap).
      inner = [...privDrop, BWRAP, '--info-fd', prep.launcher ? '4' : '3', ...bw];
      const runner = plainCommandArgv(command) ?? ['/bin/sh', '-c', command];
      inner.push('--', ...prlimit, ...runnerArgv(runner, native ? rlimits : []));
      env = { PATH: SANDBOX_PATH, LANG: 'C.UTF-8' };
      if (native) confine = { ...(drop ?? { uid: null, gid: null }), rlimits: [] };
    } else if (level === 'whitelist') {
      inner = [...privDrop, ...prlimit, run.program!, ...run.programArgs];
      env = sandboxEnv(dir);
      if (native) confine = { ...(drop ?? { uid: null, gid: null }), rlimits };
    } else {
      inner = ['/bin/sh', '-c', command];
      env = sandboxEnv(dir);
    }
    const params = prep.launcher
      ? launcherParams({ cwd: dir, env, cgroupJoinFiles: cg?.joinFiles ?? [], confine, command: inner })
      : null;
    return { argv: inner, env, params };
  }

  /** The argv of this sandbox's launchers (the same for every run), and the stdio every run is spawned with. */
  const launcherSpawn = (helper: SpawnHelper, prep: Prepared) => ({
    argv: launcherArgv({
      parentPid: helper.pid,
      keepFds: level === 'strict' ? 5 : 3,
      confines: level !== 'disabled' && nativeSyscalls() !== null,
    }),
    stdio: runStdio(prep.launcher),
  });
  const runStdio = (useReaper: boolean): Array<'pipe' | 'ignore'> => [
    'ignore',
    'pipe',
    'pipe',
    useReaper || level === 'strict' ? 'pipe' : 'ignore',
    useReaper && level === 'strict' ? 'pipe' : 'ignore',
    level === 'strict' ? 'pipe' : 'ignore', // RUNNER_FD
  ];
  // Output past what the capture keeps and scans is drained and dropped by the helper itself.
  const relayed = Math.max(limits.maxOutputBytes, SCAN_BUDGET) + 64 * 1024;

  /**
   * A launcher started ahead of the next run, waiting for its parameters: perl's start (2–3 ms) is then off the
   * run's path. One spare at a time, of the current spawn helper; a run that finds none starts its own.
   */
  let spare: { helper: SpawnHelper; proc: Promise<SpawnedProcess>; gone: boolean } | null = null;
  const startLauncher = (helper: SpawnHelper, prep: Prepared) => {
    const { argv, stdio } = launcherSpawn(helper, prep);
    // The launcher chdirs to its run's dir and sets the run's environment itself.
    return helper.spawn({
      file: argv[0]!,
      args: argv.slice(1),
      cwd: prep.workRoot,
      env: { ...PERL_STARTUP_ENV },
      forwardLimits: { 1: relayed, 2: relayed },
      stdio,
    });
  };
  /** Gives the run to the spare launcher (or to a new one), then starts the next spare: after, not before. */
  async function launchWith(helper: SpawnHelper, prep: Prepared, params: Buffer): Promise<SpawnedProcess> {
    const s = spare?.helper === helper && !spare.gone ? spare : null;
    spare = null;
    const mine = s ? await s.proc : null;
    const proc = mine && mine.pid > 0 && !s!.gone ? mine : await startLauncher(helper, prep);
    proc.stdio[3]?.write(params);
    if (!closed && spare === null) {
      const next = { helper, proc: startLauncher(helper, prep), gone: false };
      void next.proc.then((p) => p.exited).then(() => (next.gone = true));
      spare = next;
    }
    return proc;
  }

  /**
   * Spawns the run (through the spawn helper) in its own process group and wires its pipes: output, launcher
   * status, bwrap info, runner.
   */
  async function launch(
    helper: SpawnHelper,
    what: Buffer | { argv: string[]; env: Record<string, string> },
    dir: string,
    slot: Slot,
    prep: Prepared,
    cg: CgroupRun | null,
  ): Promise<Launched> {
    const useReaper = prep.launcher;
    if (closed) throw new UnavailableError('sandbox_closed', 'The sandbox is shutting down');
    const startedAt = Date.now();
    // The helper spawns detached: own process group (and session), pgid = pid. With the launcher: a spare one,
    // told what to run.
    let child: SpawnedProcess;
    if (Buffer.isBuffer(what)) {
      child = await launchWith(helper, prep, what);
    } else {
      child = await helper.spawn({
        file: what.argv[0]!,
        args: what.argv.slice(1),
        cwd: dir,
        env: what.env,
        forwardLimits: { 1: relayed, 2: relayed },
        stdio: runStdio(useReaper),
      });
    }
    const pgid = child.pid;
    let resolveMain: (e: Exit) => void = () => undefined;
    const mainExited = new Promise<Exit>((r) => (resolveMain = r));
    const processExited = child.exited;
    const statusFd = (useReaper ? child.stdio[3] : null) as Readable | null;
    const infoFd = (level === 'strict' ? child.stdio[useReaper ? 4 : 3] : null) as Readable | null;
    const statusClosed = fdClosed(statusFd);
    // strict: the runner inside the sandbox (strict-runner.ts) reports the command's end on its channel, then waits
    // there while we read the work dir, which lives only in the sandbox's mount namespace.
    const runnerFd = level === 'strict' ? child.stdio[RUNNER_FD]! : null;
    const stdout = new CappedCapture(limits.maxOutputBytes);
    const stderr = new CappedCapture(
      limits.maxOutputBytes,
      level === 'strict' ? [...STDERR_MARKERS, WORKDIR_FULL_MARKER] : STDERR_MARKERS,
    );
    const run: Launched = {
      child,
      startedAt,
      pgid,
      reaperPid: useReaper ? pgid : -1,
      useReaper,
      mainPid: 0,
      killRequested: false,
      nsInitPid: 0,
      sandboxMountNs: Promise.resolve(null),
      mainExited,
      processExited,
      resolveMain: (e) => resolveMain(e),
      statusFd,
      infoFd,
      infoClosed: fdClosed(infoFd),
      runnerFd,
      runner: runnerFd
        ? listenToRunner(runnerFd, (code) => resolveMain({ code, signal: null }))
        : { exitCode: null, noSpace: false },
      streamsClosed: Promise.all(
        [child.stdio[1]!, child.stdio[2]!].map((s) => new Promise<void>((r) => s.once('close', () => r()))),
      ),
      stdout,
      stderr,
      kill: () => undefined,
      sweep: () => Promise.resolve(0),
    };
    // Without a reaper the spawned process' exit is the command's exit. With one, its status line (read first:
    // the pipe is drained before we look at the process exit) is.
    void processExited.then(async (e) => {
      await within(statusClosed, PIPE_GRACE_MS);
      resolveMain(e);
    });
    listenToBwrap(run);
    listenToLauncher(run);
    stdout.attach(child.stdio[1]!);
    stderr.attach(child.stdio[2]!);
    armKill(run, dir, slot, cg);
    return run;
  }

  /** Strict: bwrap's --info-fd JSON names the host pid of the sandbox's pid 1 (and so its mount namespace). */
  function listenToBwrap(run: Launched): void {
    const infoFd = run.infoFd;
    if (!infoFd) return;
    let info = '';
    infoFd.on('error', () => undefined);
    infoFd.on('data', (d: Buffer) => {
      info += d.toString('latin1');
      const m = /"child-pid"\s*:\s*(\d+)/.exec(info);
      if (m && run.nsInitPid === 0) {
        run.nsInitPid = Number(m[1]);
        run.sandboxMountNs = mountNamespaceOf(run.nsInitPid);
      }
    });
  }

  /** The launcher's status lines: the command's pid once started, then its exit. */
  function listenToLauncher(run: Launched): void {
    const statusFd = run.statusFd;
    if (!statusFd) return;
    let buf = '';
    statusFd.on('error', () => undefined);
    statusFd.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const ev = parseReaperLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (ev?.type === 'nocgroup') {
          warn('sandbox: the launcher could not join the run cgroup; the run goes on with its rlimits');
        } else if (ev?.type === 'pid') {
          run.mainPid = ev.pid;
          if (run.killRequested) run.kill();
        } else if (ev?.type === 'exit') {
          const signal =
            ev.signal === null ? null : ((SIGNAL_NAMES.get(ev.signal) ?? 'SIGKILL') as NodeJS.Signals);
          run.resolveMain({ code: ev.code, signal });
        }
      }
    });
  }

  /** Sets the run's `sweep` and `kill`: how to find and end every process of the run, at this level. */
  function armKill(run: Launched, dir: string, slot: Slot, cg: CgroupRun | null): void {
    const uid = slot.uid;
    /** Every process of the run except the reaper: its groups, anything in its work dir, its dedicated uid. */
    run.sweep = () =>
      killMatching(
        (p) =>
          p.pid !== run.reaperPid &&
          (p.pgrp === run.pgid ||
            (run.mainPid > 1 && p.pgrp === run.mainPid) ||
            (typeof p.cwd === 'string' && isInside(dir, p.cwd)) ||
            (slot.dedicatedUid && uid !== null && p.uid === uid)),
        { cwd: true, uid: slot.dedicatedUid },
      );
    /** Kills the command and all it started; the reaper stays to reap them (then exits by itself). */
    run.kill = () => {
      run.killRequested = true;
      // Until the reaper has reported the command's pid (its own process group), there is nothing safe to aim at:
      // the status handler calls us again when the pid arrives.
      if (run.useReaper && run.mainPid <= 1) return;
      if (level === 'strict') {
        // Killing bwrap kills the sandbox's pid 1 (--die-with-parent), and with it the whole pid namespace.
        killGroup(run.useReaper ? run.mainPid : run.pgid);
        if (cg) void cg.killAll(1000, run.reaperPid).catch(() => undefined);
      } else if (run.useReaper) {
        killGroup(run.mainPid);
        void run.sweep().catch(() => undefined);
        if (cg) void cg.killAll(1000, run.reaperPid).catch(() => undefined);
      } else {
        killGroup(run.pgid);
        void run.sweep().catch(() => undefined);
      }
    };
  }

  /**
   * Waits for the command to end while enforcing the limits the kernel does not: the timeout (with a grace for
   * processes stuck in the kernel) and the work dir's size, measured every WATCHDOG_INTERVAL_MS.
   */
  async function watchLimits(
    run: Launched,
    timeoutMs: number,
    dir: string,
    slot: Slot,
    hits: Set<LimitHit>,
  ): Promise<{ exit: Exit; durationMs: number; timedOut: boolean }> {
    let timedOut = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      run.kill();
      // A process stuck in the kernel (D state) may take a while to die: do not wait for it forever.
      graceTimer = setTimeout(() => {
        if (run.mainPid > 1) killGroup(run.mainPid);
        killGroup(run.pgid);
        run.resolveMain({ code: null, signal: 'SIGKILL' });
      }, EXIT_GRACE_MS);
    }, timeoutMs);
    // Whitelist with a uid of its own: what it writes to the shared temp dirs counts (see shared-temp.ts).
    const tempUid = level === 'whitelist' && slot.dedicatedUid ? slot.uid : null;
    // Strict: bytes cannot pass the tmpfs size; only the number of files (kernel memory) is watched. Whitelist:
    // the work dir and the run uid's files in the shared temp dirs.
    const overLimit =
      level === 'strict'
        ? async () => ((await workdirUsage(run.nsInitPid))?.inodes ?? 0) > MAX_SCANNED_ENTRIES
        : async () => {
            const caps = { bytes: limits.maxWorkdirBytes, entries: MAX_SCANNED_ENTRIES };
            const m = await measureDir(dir, caps);
            const t = tempUid === null ? { bytes: 0, entries: 0 } : await measureSharedTemp(tempUid, caps);
            return m.bytes + t.bytes > caps.bytes || m.entries + t.entries > caps.entries;
          };
    let measuring = false;
    const watchdog = setInterval(() => {
      if (measuring || (level === 'strict' && run.nsInitPid === 0)) return;
      measuring = true;
      overLimit()
        .then((over) => {
          if (over) {
            hits.add('workdir_size');
            run.kill();
          }
        })
        .catch(() => undefined)
        .finally(() => (measuring = false));
    }, WATCHDOG_INTERVAL_MS);

    const exit = await run.mainExited;
    const durationMs = Date.now() - run.startedAt;
    clearTimeout(timer);
    clearTimeout(graceTimer);
    clearInterval(watchdog);
    return { exit, durationMs, timedOut };
  }

  /** Strict: the changed files, read from the sandbox's mount namespace while the runner waits; then releases it. */
  async function collectStrictRun(
    run: Launched,
    manifest: Parameters<typeof collectChanges>[1],
    hits: Set<LimitHit>,
  ): Promise<CollectResult | null> {
    let collected: CollectResult | null = null;
    if (run.runner.exitCode !== null) {
      const got = await collectFromSandbox(
        run.nsInitPid,
        await run.sandboxMountNs,
        manifest,
        collectOptions(),
      ).catch(() => null);
      if (got) {
        collected = got.collected;
        if (got.full) hits.add('workdir_size');
      } else warn('sandbox: could not read the work dir of a strict run');
    }
    run.runnerFd?.end(); // releases the runner, which exits with the command's status
    return collected;
  }

  /** The command is done: makes sure nothing it started survives (`sleep 1000 &`, nohup, setsid…), closes pipes. */
  async function endRun(run: Launched, exit: Exit, timedOut: boolean, cg: CgroupRun | null): Promise<void> {
    const { useReaper, pgid } = run;
    if (level === 'strict') {
      // bwrap's --info-fd JSON names the sandbox's pid 1; without it, wait for bwrap to end before judging.
      if (run.nsInitPid === 0) await within(run.infoClosed, PIPE_GRACE_MS);
      if (run.nsInitPid === 0 && !timedOut && !closed && exit.code !== 0) {
        // bwrap never created the sandbox (no user namespaces, bad mounts…): not the script's failure.
        throw new UnavailableError(
          'sandbox_unavailable',
          `bubblewrap failed: ${run.stderr.text().trim().slice(0, 500)}`,
        );
      }
    }
    // The reaper exits by itself, with 0, once no process of the run is left: the usual case. In strict mode that
    // includes the sandbox's pid 1 (the runner, released above), and with it every process of the namespace.
    const clean = useReaper
      ? (await within(run.processExited, level === 'strict' ? 3000 : REAPER_QUICK_EXIT_MS))?.code === 0
      : false;
    if (!clean) {
      if (level === 'strict') {
        killGroup(useReaper && run.mainPid > 1 ? run.mainPid : pgid);
        if (!(await waitForExit(run.nsInitPid, 3000))) warn('sandbox: the sandbox pid 1 did not exit');
      } else {
        killGroup(useReaper && run.mainPid > 1 ? run.mainPid : pgid);
        const left = await run.sweep();
        if (cg) await cg.killAll(3000, run.reaperPid).catch(() => undefined);
        if (left > 0) warn('sandbox: processes of a run survived', { left });
      }
      if (useReaper && (await within(run.processExited, 3000)) === null) {
        warn('sandbox: the reaper did not exit; killing it');
        killGroup(pgid);
      }
    }
    if (cg) {
      const left = await cg.killAll(3000);
      if (left > 0) warn('sandbox: processes survived the cgroup kill', { left });
    }
    await within(run.streamsClosed, PIPE_GRACE_MS);
    run.child.stdio[1]?.destroy();
    run.child.stdio[2]?.destroy();
    run.statusFd?.destroy();
    run.infoFd?.destroy();
  }

  /** The run's result: its exit, output, changed files and every limit it hit. */
  async function results(r: {
    run: Launched;
    exit: Exit;
    durationMs: number;
    timedOut: boolean;
    hits: Set<LimitHit>;
    cg: CgroupRun | null;
    dir: string;
    manifest: Parameters<typeof collectChanges>[1];
    slot: Slot;
    strictCollected: CollectResult | null;
  }): Promise<RunResult> {
    const { run, hits, timedOut } = r;
    const { stdout, stderr } = run;
    let exit = r.exit;
    if (
      level === 'strict' &&
      exit.signal === null &&
      exit.code !== null &&
      exit.code > 128 &&
      exit.code < 160
    ) {
      // bwrap (like a shell) reports a command killed by signal N as exit status 128+N.
      const name = SIGNAL_NAMES.get(exit.code - 128);
      if (name) exit = { code: null, signal: name as NodeJS.Signals };
    }

    if (timedOut) hits.add('timeout');
    if (stdout.truncated || stderr.truncated) hits.add('output');
    if (exit.signal === 'SIGXCPU') hits.add('cpu');
    if (exit.signal === 'SIGXFSZ') hits.add('file_size');
    for (const m of stderr.seen) hits.add(m as LimitHit);
    if (r.cg) for (const h of await r.cg.hits().catch(() => [])) hits.add(h);

    if (run.runner.noSpace) {
      throw new PayloadTooLargeError('payload_too_large', `Skill and input files do not fit the work dir`, {
        limit: limits.maxWorkdirBytes,
      });
    }
    let usedOutside = 0;
    if (level === 'whitelist' && r.slot.dedicatedUid && r.slot.uid !== null) {
      // Files the run left in /tmp, /var/tmp, /dev/shm: counted against the work dir limit, then removed.
      const left = await sweepSharedTemp(r.slot.uid);
      if (left.bytes > 0) usedOutside = left.bytes;
    }
    const collected =
      level === 'strict'
        ? (r.strictCollected ?? { changedFiles: [], totalBytes: 0, truncated: false })
        : await collectChanges(r.dir, r.manifest, collectOptions());
    if (collected.truncated) hits.add('changed_files');
    if (collected.totalBytes + usedOutside > limits.maxWorkdirBytes) hits.add('workdir_size');
    if (collected.changedFiles.some((f) => f.size >= limits.maxFileBytes)) hits.add('file_size');

    return {
      exitCode: exit.signal ? null : exit.code,
      signal: exit.signal ?? null,
      timedOut,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
      durationMs: r.durationMs,
      limitsHit: LIMIT_ORDER.filter((h) => hits.has(h)),
      changedFiles: collected.changedFiles,
    };
  }

  const collectOptions = () => ({
    maxReturnedFileBytes: limits.maxReturnedFileBytes,
    maxReturnedTotalBytes: limits.maxReturnedTotalBytes,
  });

  return {
    level,
    run,
    async close() {
      closed = true;
      for (const h of active) h.kill();
      await Promise.all([...active].map((h) => h.done));
      await (await helper?.catch(() => null))?.close();
      const prep = preparing ? await preparing.catch(() => null) : null;
      if (prep) {
        await prep.cgroups?.close().catch(() => undefined);
        await rm(prep.etcDir, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
}
