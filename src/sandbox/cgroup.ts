import { access, mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { randomHex } from '../shared/crypto.js';
import { delay } from './procs.js';
import type { LimitHit } from './types.js';

/**
 * Optional cgroup support. Never required: when nothing is writable the sandbox relies on rlimits alone.
 *
 * Our cgroups are created BELOW the server's own cgroup (read from /proc/self/cgroup), so whatever limits the
 * server's container or service has still apply, and we never touch cgroups we do not own: no controller is enabled
 * on the parent (cgroup v2 delegation is the operator's job; without delegated controllers a v2 cgroup is still used
 * to kill every process of a run, including ones that left the process group).
 *
 * A run's cgroup gives: a per-run memory limit (RSS, unlike rlimits which are per process), a per-run pids limit
 * (RLIMIT_NPROC is per uid, so shared by concurrent runs of one uid), reliable "kill everything of this run", and
 * counters telling which limit was hit.
 */

export interface CgroupRunLimits {
  memoryBytes: number;
  pids: number;
}

export interface CgroupRun {
  /** Moves a process (before it runs anything untrusted) into the run's cgroups. */
  enter(pid: number): Promise<void>;
  /**
   * The file of each of the run's cgroups that the sandbox's launcher writes `0` ("the caller") into before it
   * starts anything (reaper.ts), so the server never waits on a round trip per run. v1: `tasks`, which moves the
   * calling thread only and so need not take the kernel's global threadgroup lock, whose write side waits for an
   * RCU grace period (through `cgroup.procs` that was 10–15 ms per run here, kernel 6.18; through `tasks` 0.1 ms).
   * The launcher is single-threaded: its one thread is the whole process. v2: `cgroup.procs` (`cgroup.threads`
   * cannot move a process between domain cgroups).
   */
  readonly joinFiles: readonly string[];
  /** Limits the kernel reports as hit: 'memory' (OOM kill / limit reached) and 'processes' (pids.max). */
  hits(): Promise<LimitHit[]>;
  /**
   * SIGKILLs every process in the run's cgroups (but `exceptPid`) until none is left; returns how many survived
   * (0 = clean).
   */
  killAll(timeoutMs?: number, exceptPid?: number): Promise<number>;
  remove(): Promise<void>;
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /** Controllers whose limits are applied ('memory', 'pids'); may be empty (v2 kill-only). */
  readonly controllers: readonly string[];
  createRun(limits: CgroupRunLimits): Promise<CgroupRun>;
  close(): Promise<void>;
}

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const unescape = (s: string) =>
      s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    mounts.push({
      root: unescape(left[3] ?? ''),
      mountPoint: unescape(left[4] ?? ''),
      fsType: right[0] ?? '',
      superOptions: (right[2] ?? '').split(','),
    });
  }
  return mounts;
}

/** Lines `id:controllers:path` of /proc/self/cgroup. */
function parseSelfCgroup(text: string): Array<{ controllers: string[]; path: string }> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, ctrl = '', ...rest] = line.split(':');
      return { controllers: ctrl === '' ? [] : ctrl.split(','), path: rest.join(':') };
    });
}

/** Host directory of our own cgroup in a mount, or null when the mount does not show it. */
function ownDir(mount: Mount, selfPath: string): string | null {
  const root = mount.root === '/' ? '' : mount.root;
  if (root && selfPath !== root && !selfPath.startsWith(root + '/')) return null;
  return path.join(mount.mountPoint, selfPath.slice(root.length));
}

async function readNumberField(file: string, field: string): Promise<number> {
  try {
    const text = await readFile(file, 'utf8');
    const m = new RegExp(`^${field}\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function readProcs(dir: string): Promise<number[]> {
  try {
    return (await readFile(path.join(dir, 'cgroup.procs'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((n) => n > 1 && n !== process.pid);
  } catch {
    return [];
  }
}

async function killLoop(
  dirs: string[],
  timeoutMs: number,
  useKillFile: boolean,
  exceptPid = -1,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let pass = 0; ; pass++) {
    const pids = new Set((await Promise.all(dirs.map(readProcs))).flat().filter((p) => p !== exceptPid));
    if (pids.size === 0) return 0;
    if (Date.now() > deadline) return pids.size;
    let killed = false;
    if (useKillFile && exceptPid < 0) {
      for (const d of dirs) {
        killed =
          (await writeFile(path.join(d, 'cgroup.kill'), '1').then(
            () => true,
            () => false,
          )) || killed;
      }
    }
    if (!killed) {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await delay(pass < 5 ? 2 : 20);
  }
}

async function removeDir(dir: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (Date.now() > deadline) throw err;
      await delay(10);
    }
  }
}

/** Removes the `skillport-<pid>-…` dirs left by dead server processes, killing what still runs in them. */
async function sweepStale(parent: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^skillport-(\d+)-[0-9a-f]+$/.exec(name);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid) continue;
    const alive = await access(`/proc/${owner}`).then(
      () => true,
      () => false,
    );
    if (alive) continue;
    const base = path.join(parent, name);
    const runs = await readdir(base, { withFileTypes: true }).catch(() => []);
    for (const r of runs) {
      if (!r.isDirectory()) continue;
      // A run its dead owner left going (whitelist runs have no pid namespace to die with it).
      await killLoop([path.join(base, r.name)], 1000, true).catch(() => undefined);
      await rmdir(path.join(base, r.name)).catch(() => undefined);
    }
    await rmdir(base).catch(() => undefined);
  }
}

async function writable(dir: string): Promise<boolean> {
  return access(dir, constants.W_OK).then(
    () => true,
    () => false,
  );
}

class V1Manager implements CgroupManager {
  readonly version = 1 as const;
  private readonly runs = new Set<string>();
  constructor(
    /** controller → our base dir in that hierarchy */
    private readonly bases: Map<string, string>,
  ) {}

  get controllers(): string[] {
    return [...this.bases.keys()];
  }

  async createRun(limits: CgroupRunLimits): Promise<CgroupRun> {
    const name = `run-${randomHex(6)}`;
    const dirs = new Map<string, string>();
    try {
      for (const [ctrl, base] of this.bases) {
        const dir = path.join(base, name);
        await mkdir(dir);
        dirs.set(ctrl, dir);
        this.runs.add(dir);
        if (ctrl === 'memory') {
          await writeFile(path.join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
          // Swap accounting is optional: without it the limit above covers RAM only.
          await writeFile(path.join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(
            () => undefined,
          );
        } else if (ctrl === 'pids') {
          await writeFile(path.join(dir, 'pids.max'), String(limits.pids));
        }
      }
    } catch (err) {
      for (const d of dirs.values()) await this.drop(d);
      throw err;
    }
    const all = [...dirs.values()];
    return {
      enter: async (pid) => {
        for (const d of all) await writeFile(path.join(d, 'cgroup.procs'), String(pid));
      },
      joinFiles: all.map((d) => path.join(d, 'tasks')),
      hits: async () => {
        const hits: LimitHit[] = [];
        const mem = dirs.get('memory');
        if (mem) {
          const oomKills = await readNumberField(path.join(mem, 'memory.oom_control'), 'oom_kill');
          const failcnt = Number(
            (await readFile(path.join(mem, 'memory.failcnt'), 'utf8').catch(() => '0')).trim(),
          );
          if (oomKills > 0 || failcnt > 0) hits.push('memory');
        }
        const pids = dirs.get('pids');
        if (pids && (await readNumberField(path.join(pids, 'pids.events'), 'max')) > 0)
          hits.push('processes');
        return hits;
      },
      killAll: (timeoutMs = 3000, exceptPid = -1) => killLoop(all, timeoutMs, false, exceptPid),
      remove: async () => {
        for (const d of all) await this.drop(d);
      },
    };
  }

  private async drop(dir: string): Promise<void> {
    await removeDir(dir);
    this.runs.delete(dir);
  }

  async close(): Promise<void> {
    for (const d of [...this.runs]) {
      await killLoop([d], 2000, false);
      await this.drop(d).catch(() => undefined);
    }
    for (const base of this.bases.values()) await removeDir(base).catch(() => undefined);
  }
}

class V2Manager implements CgroupManager {
  readonly version = 2 as const;
  private readonly runs = new Set<string>();
  constructor(
    private readonly base: string,
    readonly controllers: readonly string[],
  ) {}

  async createRun(limits: CgroupRunLimits): Promise<CgroupRun> {
    const dir = path.join(this.base, `run-${randomHex(6)}`);
    await mkdir(dir);
    this.runs.add(dir);
    try {
      if (this.controllers.includes('memory')) {
        await writeFile(path.join(dir, 'memory.max'), String(limits.memoryBytes));
        await writeFile(path.join(dir, 'memory.swap.max'), '0').catch(() => undefined);
      }
      if (this.controllers.includes('pids')) await writeFile(path.join(dir, 'pids.max'), String(limits.pids));
    } catch (err) {
      await removeDir(dir).catch(() => undefined);
      this.runs.delete(dir);
      throw err;
    }
    const procsFile = path.join(dir, 'cgroup.procs');
    return {
      enter: (pid) => writeFile(procsFile, String(pid)),
      joinFiles: [procsFile],
      hits: async () => {
        const hits: LimitHit[] = [];
        if (this.controllers.includes('memory')) {
          const f = path.join(dir, 'memory.events');
          if ((await readNumberField(f, 'oom_kill')) > 0 || (await readNumberField(f, 'max')) > 0)
            hits.push('memory');
        }
        if (
          this.controllers.includes('pids') &&
          (await readNumberField(path.join(dir, 'pids.events'), 'max')) > 0
        ) {
          hits.push('processes');
        }
        return hits;
      },
      killAll: (timeoutMs = 3000, exceptPid = -1) => killLoop([dir], timeoutMs, true, exceptPid),
      remove: async () => {
        await removeDir(dir);
        this.runs.delete(dir);
      },
    };
  }

  async close(): Promise<void> {
    for (const d of [...this.runs]) {
      await killLoop([d], 2000, true);
      await removeDir(d).catch(() => undefined);
      this.runs.delete(d);
    }
    await removeDir(this.base).catch(() => undefined);
  }
}

export interface DetectOptions {
  /** Which hierarchy to try first (default: v2 when it has memory or pids delegated, else v1, else v2 kill-only). */
  prefer?: 1 | 2;
  mountinfo?: string;
  selfCgroup?: string;
}

const baseName = () => `skillport-${process.pid}-${randomHex(4)}`;

async function tryV2(mounts: Mount[], self: ReturnType<typeof parseSelfCgroup>): Promise<V2Manager | null> {
  const mount = mounts.find((m) => m.fsType === 'cgroup2');
  const entry = self.find((e) => e.controllers.length === 0 && e.path.startsWith('/'));
  if (!mount || !entry) return null;
  const own = ownDir(mount, entry.path);
  if (!own || !(await writable(own))) return null;
  await sweepStale(own);
  const base = path.join(own, baseName());
  try {
    await mkdir(base);
  } catch {
    return null;
  }
  const available = (await readFile(path.join(base, 'cgroup.controllers'), 'utf8').catch(() => ''))
    .trim()
    .split(/\s+/);
  const wanted = ['memory', 'pids'].filter((c) => available.includes(c));
  const enabled: string[] = [];
  for (const c of wanted) {
    // Only in OUR base dir: children of it get the controller. The parent is never modified.
    if (
      await writeFile(path.join(base, 'cgroup.subtree_control'), `+${c}`).then(
        () => true,
        () => false,
      )
    ) {
      enabled.push(c);
    }
  }
  return new V2Manager(base, enabled);
}

async function tryV1(mounts: Mount[], self: ReturnType<typeof parseSelfCgroup>): Promise<V1Manager | null> {
  const bases = new Map<string, string>();
  for (const ctrl of ['memory', 'pids']) {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(ctrl));
    const entry = self.find((e) => e.controllers.includes(ctrl));
    if (!mount || !entry) continue;
    const own = ownDir(mount, entry.path);
    if (!own || !(await writable(own))) continue;
    await sweepStale(own);
    const base = path.join(own, baseName());
    try {
      await mkdir(base);
      bases.set(ctrl, base);
    } catch {
      /* not writable after all */
    }
  }
  return bases.size > 0 ? new V1Manager(bases) : null;
}

export async function detectCgroups(opts: DetectOptions = {}): Promise<CgroupManager | null> {
  if (process.platform !== 'linux') return null;
  let mounts: Mount[];
  let self: ReturnType<typeof parseSelfCgroup>;
  try {
    mounts = parseMountinfo(opts.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8')));
    self = parseSelfCgroup(opts.selfCgroup ?? (await readFile('/proc/self/cgroup', 'utf8')));
  } catch {
    return null;
  }
  if (opts.prefer === 1) return (await tryV1(mounts, self)) ?? (await tryV2(mounts, self));
  if (opts.prefer === 2) return (await tryV2(mounts, self)) ?? (await tryV1(mounts, self));
  const v2 = await tryV2(mounts, self);
  if (v2 && v2.controllers.length > 0) return v2;
  const v1 = await tryV1(mounts, self);
  if (v1) {
    await v2?.close();
    return v1;
  }
  return v2;
}
