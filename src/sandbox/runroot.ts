import { chmod, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomHex } from '../shared/crypto.js';
import { isInside } from './paths.js';
import { killMatching } from './procs.js';
import { ensureWorkRoot } from './workdir.js';

/**
 * Run dirs of every sandbox owner (server process) on the machine live below one known parent, each owner in a dir
 * of its own named after its pid and the pid's start time. A server killed with SIGKILL cannot clean up; the next
 * one that starts sweeps what dead owners left (their run dirs and any process still working in them). An owner
 * that is alive (same pid and same start time: pids are reused) is never touched, so several servers can share the
 * parent.
 */
const OWNER_DIR = /^srv-(\d+)-(\d+)-[0-9a-f]+$/;

/** Start time of a process (clock ticks since boot, field 22 of /proc/<pid>/stat), null when it does not exist. */
async function startTimeOf(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1').catch(() => null);
  if (stat === null) return null;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

/**
 * Removes the run roots of dead owners below `parent`, after SIGKILLing any process still working in them (a
 * whitelist run has no pid namespace to die with its server). Returns how many were removed.
 */
export async function sweepStaleRunRoots(parent: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const m = OWNER_DIR.exec(name);
    if (!m) continue;
    if ((await startTimeOf(Number(m[1]))) === m[2]) continue; // its owner is alive
    const dir = path.join(parent, name);
    await killMatching((p) => typeof p.cwd === 'string' && isInside(dir, p.cwd), { cwd: true });
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    removed++;
  }
  return removed;
}

/**
 * Sweeps `parent` (created 0711, owned by us, see ensureWorkRoot) and creates this process's run root in it, to be
 * passed as the sandbox's `workRoot`.
 */
export async function claimRunRoot(parent: string): Promise<{ workRoot: string; swept: number }> {
  const abs = await ensureWorkRoot(parent);
  const swept = await sweepStaleRunRoots(abs);
  const started = await startTimeOf(process.pid);
  const workRoot = path.join(abs, `srv-${process.pid}-${started}-${randomHex(4)}`);
  await mkdir(workRoot, { mode: 0o711 });
  await chmod(workRoot, 0o711);
  return { workRoot, swept };
}
