import { accessSync, constants, statSync } from 'node:fs';
import { BWRAP, PRLIMIT, SANDBOX_WORKDIR, SETPRIV, buildBwrapArgs } from './bwrap.js';
import type { CgroupRun } from './cgroup.js';
import { plainCommandArgv } from './command-parse.js';
import type { SandboxContext } from './context.js';
import { PERL_STARTUP_ENV, launcherParams, nativeSyscalls, type Rlimit } from './reaper.js';
import type { Prepared } from './setup.js';
import type { Slot } from './slots.js';
import { runnerArgv } from './strict-runner.js';
import { TMP_DIR_NAME } from './workdir.js';

export const MiB = 1024 * 1024;
const SEARCH_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];
const SANDBOX_PATH = SEARCH_PATH.join(':');
/**
 * Address-space headroom above maxMemoryMb. RLIMIT_AS counts reservations, and V8 alone reserves ~512 MiB of
 * address space for its code range at start-up (node does not even start under `--as=512M`), so RLIMIT_AS cannot be
 * the memory limit. The real per-process limit is RLIMIT_DATA (private writable memory actually mapped: heap,
 * malloc, Buffers), plus the run's memory cgroup when one is writable. RLIMIT_AS stays as a coarse backstop for
 * what RLIMIT_DATA does not count (shared anonymous mappings).
 */
const ADDRESS_SPACE_HEADROOM_MB = 1024;

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

/** The allowed program's path in the runs' PATH, or null when it is not installed. */
export function resolveProgram(name: string): string | null {
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

/** What a run is started with: the launcher's parameters (launcherParams), or the argv and environment to spawn. */
export type StartCommand = Buffer | { argv: string[]; env: Record<string, string> };

/**
 * What starts the command at this level (privilege drop, bwrap, rlimits) and its environment; with the
 * launcher, as the parameters to write to it (launcherParams).
 */
export function commandLine(
  ctx: SandboxContext,
  run: {
    command: string;
    program: string | null;
    programArgs: string[];
    timeoutMs: number;
    slot: Slot;
    prep: Prepared;
    dir: string;
    cg: CgroupRun | null;
  },
): StartCommand {
  const { config, level, limits } = ctx;
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
  return prep.launcher
    ? launcherParams({ cwd: dir, env, cgroupJoinFiles: cg?.joinFiles ?? [], confine, command: inner })
    : { argv: inner, env };
}
