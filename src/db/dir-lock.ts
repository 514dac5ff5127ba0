import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

/**
 * The embedded (PGlite) data dir has exactly one owner process: PGlite keeps the database in memory and writes
 * it back on its own, so two processes on one dir silently overwrite each other's writes.
 *
 * The lock is a file naming its owner by pid *and* the kernel's start time of that pid (from /proc), plus the
 * boot id and host. A holder whose pid is gone, whose pid now belongs to another process (pid reuse), or that
 * ran before the last boot is stale, so a kill -9 never leaves a lock behind. A plain pid file would go stale on
 * pid reuse; a lock library with mtime heartbeats (proper-lockfile) stays held for its stale timeout after a
 * crash and needs a timer; flock() has no binding in Node without a native addon.
 *
 * Taking the lock is atomic: the record is written to a file of our own and hard-linked to the lock's name
 * (link fails if the name exists), so nobody ever reads a half-written record. A stale record is moved aside
 * and checked before it is deleted, so two processes that find the same stale lock cannot both take it.
 */
export const LOCK_FILE = 'skillport.lock';

export interface LockHolder {
  pid: number;
  /** Start time of the pid in clock ticks since boot (field 22 of /proc/<pid>/stat); null off Linux. */
  start: number | null;
  boot: string | null;
  host: string;
  command: string;
  since: string;
}

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
    readonly lockFile: string,
  ) {
    const who = `pid ${holder.pid}${holder.host === hostname() ? '' : ` on host ${holder.host}`}`;
    super(
      `The embedded database in ${dir} is in use by another Skillport process (${who}: ` +
        `"${holder.command}", since ${holder.since}). Only one process may open it at a time.` +
        (holder.host === hostname()
          ? ''
          : ` If no Skillport runs on ${holder.host} any more, delete ${lockFile} and try again.`),
    );
  }
}

export interface DirLock {
  release(): void;
}

/** Takes the lock on `dir` (which must exist) or throws DataDirLockedError naming the live owner. */
export function lockDataDir(dir: string): DirLock {
  const file = path.join(dir, LOCK_FILE);
  const record = JSON.stringify(self());
  // A few rounds: each one either takes the lock, finds a live owner, or clears a stale record.
  for (let round = 0; round < 5; round++) {
    if (tryLink(file, record)) return { release: () => releaseIfOurs(file, record) };
    const text = readOrNull(file);
    if (text === null) continue; // released meanwhile
    const holder = parse(text);
    if (holder && isAlive(holder)) throw new DataDirLockedError(dir, holder, file);
    removeIfUnchanged(file, text);
  }
  throw new Error(`Could not take the lock ${file}: other processes keep taking and releasing it`);
}

function self(): LockHolder {
  return {
    pid: process.pid,
    start: startTime(process.pid),
    boot: bootId(),
    host: hostname(),
    command: ['skillport', ...process.argv.slice(2)].join(' ').slice(0, 200),
    since: new Date().toISOString(),
  };
}

function tryLink(file: string, record: string): boolean {
  const own = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(own, record, { mode: 0o600 });
  try {
    linkSync(own, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(own);
  }
}

function isAlive(holder: LockHolder): boolean {
  // Another machine's (or container's) processes cannot be checked from here: assume the owner lives.
  if (holder.host !== hostname()) return true;
  const boot = bootId();
  if (holder.boot && boot && holder.boot !== boot) return false;
  if (holder.start !== null) return startTime(holder.pid) === holder.start;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Moves the record aside, and deletes it only if it is still the stale one we judged; else puts it back. */
function removeIfUnchanged(file: string, staleText: string): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    if (readOrNull(aside) !== staleText) linkSync(aside, file); // a live owner took it meanwhile
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(aside);
  }
}

function releaseIfOurs(file: string, record: string): void {
  if (readOrNull(file) === record) unlinkSync(file);
}

function parse(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : null;
  } catch {
    return null; // we only ever link complete records: an unreadable one is not ours to honour
  }
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Clock ticks since boot at which `pid` started; null when /proc is unavailable or the pid is gone. */
function startTime(pid: number): number | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) may contain spaces and parentheses: count fields after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]);
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}
