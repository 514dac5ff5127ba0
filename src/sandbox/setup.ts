import { access, chmod, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomHex } from '../shared/crypto.js';
import { SANDBOX_WORKDIR, bwrapSupportsDisableUserns, detectHostLayout, type HostLayout } from './bwrap.js';
import { detectCgroups, type CgroupManager } from './cgroup.js';
import { BLOCKED_PROGRAMS } from './command-parse.js';
import type { SandboxContext } from './context.js';
import { isInside } from './paths.js';
import { procHidesOtherUids } from './procs.js';
import { launcherAvailable } from './reaper.js';
import type { SandboxConfig } from './types.js';
import { ensureWorkRoot } from './workdir.js';

/** What the sandbox learns and writes once, before its first run: the host, the run root, the runs' /etc files. */
export interface Prepared {
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

/** Refuses, at creation, a config the sandbox cannot run safely (root runs, uid 0, blocked programs…). */
export function validateConfig(config: SandboxConfig): void {
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

/** The sandbox's one-time preparation, done on its first run (retried after a failure), undone by `close`. */
export interface Setup {
  prepare(): Promise<Prepared>;
  /** Removes what `prepare` made: the cgroup manager's own state and the /etc files. */
  close(): Promise<void>;
}

export function createSetup(ctx: SandboxContext): Setup {
  const { config, level } = ctx;
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
          // Runs have uids of their own (a uid pool, slots.ts): one condition of running whitelist runs at once.
          !!config.uidPool &&
          procHidesOtherUids(await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')),
      };
    })();
    preparing.catch(() => {
      preparing = null; // allow a retry after e.g. a transient mkdir failure
    });
    return preparing;
  };

  return {
    prepare,
    async close() {
      const prep = preparing ? await preparing.catch(() => null) : null;
      if (prep) {
        await prep.cgroups?.close().catch(() => undefined);
        await rm(prep.etcDir, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
}
