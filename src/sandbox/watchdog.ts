import { UnavailableError } from '../shared/errors.js';
import type { CgroupRun } from './cgroup.js';
import type { Exit, Launched, SandboxContext } from './context.js';
import { isInside } from './paths.js';
import { killGroup, killMatching, waitForExit } from './procs.js';
import { measureSharedTemp } from './shared-temp.js';
import type { Slot } from './slots.js';
import { workdirUsage } from './strict-runner.js';
import type { LimitHit } from './types.js';
import { MAX_SCANNED_ENTRIES, measureDir } from './workdir.js';

const WATCHDOG_INTERVAL_MS = 250;
/** How long the reaper gets to exit by itself after the command ended before we go looking for leftovers. */
const REAPER_QUICK_EXIT_MS = 30;
/** After the main process exits, how long its pipes may stay open before we stop reading them. */
export const PIPE_GRACE_MS = 1000;
/** After a kill, how long to wait for the `exit` event before giving up on the process. */
const EXIT_GRACE_MS = 5000;

/** The promise's value, or null if it does not settle within `ms`. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([p, new Promise<null>((res) => (t = setTimeout(() => res(null), ms)))]);
  clearTimeout(t);
  return r;
}

/** Sets the run's `sweep` and `kill`: how to find and end every process of the run, at this level. */
export function armKill(
  ctx: SandboxContext,
  run: Launched,
  dir: string,
  slot: Slot,
  cg: CgroupRun | null,
): void {
  const { level } = ctx;
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
export async function watchLimits(
  ctx: SandboxContext,
  run: Launched,
  timeoutMs: number,
  dir: string,
  slot: Slot,
  hits: Set<LimitHit>,
): Promise<{ exit: Exit; durationMs: number; timedOut: boolean }> {
  const { level, limits } = ctx;
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

/** The command is done: makes sure nothing it started survives (`sleep 1000 &`, nohup, setsid…), closes pipes. */
export async function endRun(
  ctx: SandboxContext,
  run: Launched,
  exit: Exit,
  timedOut: boolean,
  cg: CgroupRun | null,
): Promise<void> {
  const { level, warn } = ctx;
  const { useReaper, pgid } = run;
  if (level === 'strict') {
    // bwrap's --info-fd JSON names the sandbox's pid 1; without it, wait for bwrap to end before judging.
    if (run.nsInitPid === 0) await within(run.infoClosed, PIPE_GRACE_MS);
    if (run.nsInitPid === 0 && !timedOut && !ctx.closed && exit.code !== 0) {
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
