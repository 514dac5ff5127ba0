import { readFile, readdir, readlink } from 'node:fs/promises';

/** A process as seen in /proc (Linux only). */
export interface ProcInfo {
  pid: number;
  /** R, S, D, Z (zombie: dead, waiting to be reaped), T, X… */
  state: string;
  pgrp: number;
  session: number;
  /** Real uid (when asked for). */
  uid?: number;
  /** Resolved cwd, null when unreadable (when asked for). */
  cwd?: string | null;
}

async function readInfo(pid: number, want: { uid?: boolean; cwd?: boolean }): Promise<ProcInfo | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
    // comm is in parentheses and may contain anything: split after the LAST ')'.
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const info: ProcInfo = {
      pid,
      state: after[0] ?? '?',
      pgrp: Number(after[2]),
      session: Number(after[3]),
    };
    if (want.uid) {
      const status = await readFile(`/proc/${pid}/status`, 'latin1');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      info.uid = m ? Number(m[1]) : -1;
    }
    if (want.cwd) info.cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
    return info;
  } catch {
    return null; // exited meanwhile
  }
}

async function scanProcesses(want: { uid?: boolean; cwd?: boolean } = {}): Promise<ProcInfo[]> {
  const names = await readdir('/proc');
  const pids = names.filter((n) => /^\d+$/.test(n)).map(Number);
  const infos = await Promise.all(pids.map((pid) => readInfo(pid, want)));
  return infos.filter((i): i is ProcInfo => i !== null);
}

const isAlive = (p: ProcInfo) => p.state !== 'Z' && p.state !== 'X';

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * SIGKILLs every live process matching `match` (never pid 1 or ourselves) and rescans until none is left alive or
 * `timeoutMs` passes. Returns how many were still alive at the end (0 = clean). Zombies count as dead: they no
 * longer run and are reaped by their (sub)reaper.
 */
export async function killMatching(
  match: (p: ProcInfo) => boolean,
  want: { uid?: boolean; cwd?: boolean },
  timeoutMs = 3000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let pass = 0; ; pass++) {
    const live = (await scanProcesses(want)).filter(
      (p) => p.pid !== 1 && p.pid !== process.pid && isAlive(p) && match(p),
    );
    if (live.length === 0) return 0;
    if (Date.now() > deadline) return live.length;
    for (const p of live) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await delay(pass < 5 ? 2 : 20);
  }
}

/** kill(-pgid, SIGKILL), ignoring "no such process". */
export function killGroup(pgid: number): void {
  if (!(pgid > 1)) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* group already empty */
  }
}

/**
 * Waits until `pid` is gone or a zombie; SIGKILLs it if it is still running halfway through. Returns false if it is
 * still running at the end. pid <= 0: nothing to wait for.
 */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  if (!(pid > 1)) return true;
  const start = Date.now();
  let killed = false;
  for (let pass = 0; ; pass++) {
    const info = await readInfo(pid, {});
    if (!info || !isAlive(info)) return true;
    const elapsed = Date.now() - start;
    if (elapsed > timeoutMs) return false;
    if (!killed && elapsed > timeoutMs / 2) {
      killed = true;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await delay(pass < 20 ? 1 : 10);
  }
}

/**
 * Whether the /proc mounted at /proc (in `mountinfo`, the text of /proc/self/mountinfo) hides other users'
 * processes: `hidepid=1|2|4` (or `noaccess`, `invisible`, `ptraceable`) make another uid's /proc/<pid>/cmdline
 * unreadable.
 */
export function procHidesOtherUids(mountinfo: string): boolean {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const [fsType, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (mountPoint !== '/proc' || fsType !== 'proc') continue;
    const m = /(?:^|,)hidepid=([^,]+)/.exec(superOptions);
    return m !== null && ['1', '2', '4', 'noaccess', 'invisible', 'ptraceable'].includes(m[1]!);
  }
  return false;
}
