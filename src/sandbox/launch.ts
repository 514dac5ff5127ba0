import type { Readable } from 'node:stream';
import { UnavailableError } from '../shared/errors.js';
import type { CgroupRun } from './cgroup.js';
import type { StartCommand } from './command-line.js';
import type { Exit, Launched, SandboxContext } from './context.js';
import { CappedCapture, SCAN_BUDGET } from './output.js';
import { PERL_STARTUP_ENV, launcherArgv, nativeSyscalls, parseReaperLine } from './reaper.js';
import { SIGNAL_NAMES, STDERR_MARKERS, WORKDIR_FULL_MARKER } from './results.js';
import type { Prepared } from './setup.js';
import type { Slot } from './slots.js';
import type { SpawnHelper, SpawnedProcess } from './spawner.js';
import { RUNNER_FD, listenToRunner, mountNamespaceOf } from './strict-runner.js';
import type { SecurityLevel } from './types.js';
import { PIPE_GRACE_MS, armKill, within } from './watchdog.js';

const fdClosed = (fd: Readable | null | undefined): Promise<void> =>
  fd
    ? new Promise<void>((r) => {
        fd.once('close', () => r());
        fd.once('error', () => r());
      })
    : Promise.resolve();

/** Starts runs: through the launcher (one spare started ahead) or directly, and listens to what they report. */
export interface Launcher {
  launch(
    helper: SpawnHelper,
    what: StartCommand,
    dir: string,
    slot: Slot,
    prep: Prepared,
    cg: CgroupRun | null,
  ): Promise<Launched>;
}

/** The stdio every run is spawned with: output, and the pipes to the launcher, bwrap and the runner it needs. */
function runStdio(level: SecurityLevel, useReaper: boolean): Array<'pipe' | 'ignore'> {
  return [
    'ignore',
    'pipe',
    'pipe',
    useReaper || level === 'strict' ? 'pipe' : 'ignore',
    useReaper && level === 'strict' ? 'pipe' : 'ignore',
    level === 'strict' ? 'pipe' : 'ignore', // RUNNER_FD
  ];
}

/**
 * A launcher started ahead of the next run, waiting for its parameters: perl's start (2–3 ms) is then off the
 * run's path. One spare at a time, of the current spawn helper; a run that finds none starts its own.
 */
class SpareLauncher {
  private spare: { helper: SpawnHelper; proc: Promise<SpawnedProcess>; gone: boolean } | null = null;

  constructor(
    private readonly ctx: SandboxContext,
    private readonly relayed: number,
  ) {}

  /** Starts a launcher: its argv is the same for every run of this sandbox (the run's parameters follow on fd 3). */
  private startLauncher(helper: SpawnHelper, prep: Prepared): Promise<SpawnedProcess> {
    const level = this.ctx.level;
    const [file, ...args] = launcherArgv({
      parentPid: helper.pid,
      keepFds: level === 'strict' ? 5 : 3,
      confines: level !== 'disabled' && nativeSyscalls() !== null,
    });
    // The launcher chdirs to its run's dir and sets the run's environment itself.
    return helper.spawn({
      file: file!,
      args,
      cwd: prep.workRoot,
      env: { ...PERL_STARTUP_ENV },
      forwardLimits: { 1: this.relayed, 2: this.relayed },
      stdio: runStdio(level, prep.launcher),
    });
  }

  /** Gives the run to the spare launcher (or to a new one), then starts the next spare: after, not before. */
  async launchWith(helper: SpawnHelper, prep: Prepared, params: Buffer): Promise<SpawnedProcess> {
    const s = this.spare?.helper === helper && !this.spare.gone ? this.spare : null;
    this.spare = null;
    const mine = s ? await s.proc : null;
    const proc = mine && mine.pid > 0 && !s!.gone ? mine : await this.startLauncher(helper, prep);
    proc.stdio[3]?.write(params);
    if (!this.ctx.closed && this.spare === null) {
      const next = { helper, proc: this.startLauncher(helper, prep), gone: false };
      // A spare that cannot start (its helper died meanwhile) is gone as well: its failure is no run's to report.
      void next.proc
        .then(
          (p) => p.exited,
          () => undefined,
        )
        .then(() => (next.gone = true));
      this.spare = next;
    }
    return proc;
  }
}

export function createLauncher(ctx: SandboxContext): Launcher {
  const { level, limits, warn } = ctx;
  // Output past what the capture keeps and scans is drained and dropped by the helper itself.
  const relayed = Math.max(limits.maxOutputBytes, SCAN_BUDGET) + 64 * 1024;
  const spare = new SpareLauncher(ctx, relayed);

  /**
   * Spawns the run (through the spawn helper) in its own process group and wires its pipes: output, launcher
   * status, bwrap info, runner.
   */
  const launch: Launcher['launch'] = async (helper, what, dir, slot, prep, cg) => {
    const useReaper = prep.launcher;
    if (ctx.closed) throw new UnavailableError('sandbox_closed', 'The sandbox is shutting down');
    const startedAt = Date.now();
    // The helper spawns detached: own process group (and session), pgid = pid. With the launcher: a spare one,
    // told what to run.
    let child: SpawnedProcess;
    if (Buffer.isBuffer(what)) {
      child = await spare.launchWith(helper, prep, what);
    } else {
      child = await helper.spawn({
        file: what.argv[0]!,
        args: what.argv.slice(1),
        cwd: dir,
        env: what.env,
        forwardLimits: { 1: relayed, 2: relayed },
        stdio: runStdio(level, useReaper),
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
    listenToLauncher(run, warn);
    stdout.attach(child.stdio[1]!);
    stderr.attach(child.stdio[2]!);
    armKill(ctx, run, dir, slot, cg);
    return run;
  };

  return { launch };
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
function listenToLauncher(run: Launched, warn: SandboxContext['warn']): void {
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
