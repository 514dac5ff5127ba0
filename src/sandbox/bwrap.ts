import { spawn } from 'node:child_process';
import { access, lstat, readlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import type { ProbeResult } from './types.js';
import { TMP_DIR_NAME } from './workdir.js';

export const BWRAP = '/usr/bin/bwrap';
export const SETPRIV = '/usr/bin/setpriv';
export const PRLIMIT = '/usr/bin/prlimit';
/** Where the work dir appears inside the strict sandbox (and its cwd/HOME): a size-capped tmpfs. */
export const SANDBOX_WORKDIR = '/work';
/** Where the prepared files are bound read-only inside the strict sandbox, to be copied into the work dir. */
export const SANDBOX_INPUT = '/run/skillport/input';

/** How the host's top-level system dirs look (merged-/usr hosts have /bin → usr/bin symlinks). */
export type HostLayout = Array<
  { path: string; kind: 'symlink'; target: string } | { path: string; kind: 'dir' }
>;

const TOP_LEVEL = ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];

export async function detectHostLayout(): Promise<HostLayout> {
  const layout: HostLayout = [];
  for (const p of TOP_LEVEL) {
    const st = await lstat(p).catch(() => null);
    if (!st) continue;
    if (st.isSymbolicLink()) layout.push({ path: p, kind: 'symlink', target: await readlink(p) });
    else if (st.isDirectory()) layout.push({ path: p, kind: 'dir' });
  }
  return layout;
}

/** The host's top-level system dirs inside the sandbox: the same symlinks, or read-only binds. */
function layoutArgs(layout: HostLayout): string[] {
  return layout.flatMap((l) =>
    l.kind === 'symlink' ? ['--symlink', l.target, l.path] : ['--ro-bind', l.path, l.path],
  );
}

export interface BwrapOptions {
  /** Host dir with the prepared files (bound read-only at SANDBOX_INPUT). */
  inputDir: string;
  /** Dir holding the generated passwd, group, hosts and nsswitch.conf. */
  etcDir: string;
  env: Record<string, string>;
  layout: HostLayout;
  /** Size of the work dir's tmpfs: everything the run can write, /tmp included (a symlink into it). */
  workdirBytes: number;
  shmBytes: number;
  disableUserns: boolean;
  /** /etc/localtime target when it is a symlink into /usr (optional). */
  localtimeTarget?: string;
  hasAlternatives: boolean;
  hasLdSoCache: boolean;
}

/**
 * bubblewrap arguments for one run. The sandbox sees: /usr (read-only, via merged-/usr symlinks or binds for /bin,
 * /lib…), a handful of /etc files (the dynamic linker cache, /etc/alternatives, and a generated passwd/group/hosts:
 * never the host's /etc, so never /etc/shadow), a fresh /proc of its own pid namespace, a minimal read-only /dev,
 * the prepared files read-only at SANDBOX_INPUT, and the work dir at /work. Nothing else of the host: no data dir,
 * no /root, /home, /var, no other run's dir. Namespaces: user, pid, net (empty loopback only), ipc, uts, cgroup.
 * The runner is the sandbox's pid 1 (`--as-pid-1`: no bwrap init process between them, one fork less per run): it
 * reaps the script's orphans, and no process of the script can kill it (the kernel drops signals sent to a pid
 * namespace's init from inside it unless it handles them).
 *
 * What the run can write is bounded by the kernel, not by a watchdog: /work is a tmpfs of `workdirBytes` (the
 * runner copies the prepared files into it), /tmp is a symlink into it, /dev/shm is a tmpfs of `shmBytes`, and
 * everything else (/, /dev) is read-only. bubblewrap's own root and /dev are unsized tmpfs, hence the remounts.
 */
export function buildBwrapArgs(o: BwrapOptions): string[] {
  const a: string[] = ['--unshare-all', '--unshare-user'];
  if (o.disableUserns) a.push('--disable-userns');
  a.push('--as-pid-1', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'sandbox');
  a.push('--clearenv');
  for (const [k, v] of Object.entries(o.env)) a.push('--setenv', k, v);
  a.push('--ro-bind', '/usr', '/usr', ...layoutArgs(o.layout));
  if (o.hasLdSoCache) a.push('--ro-bind', '/etc/ld.so.cache', '/etc/ld.so.cache');
  if (o.hasAlternatives) a.push('--ro-bind', '/etc/alternatives', '/etc/alternatives');
  if (o.localtimeTarget) a.push('--symlink', o.localtimeTarget, '/etc/localtime');
  for (const f of ['passwd', 'group', 'hosts', 'nsswitch.conf'])
    a.push('--ro-bind', `${o.etcDir}/${f}`, `/etc/${f}`);
  a.push('--proc', '/proc', '--dev', '/dev');
  a.push('--size', String(o.shmBytes), '--tmpfs', '/dev/shm', '--remount-ro', '/dev');
  a.push('--ro-bind', o.inputDir, SANDBOX_INPUT);
  a.push('--size', String(o.workdirBytes), '--tmpfs', SANDBOX_WORKDIR);
  a.push('--symlink', `${SANDBOX_WORKDIR}/${TMP_DIR_NAME}`, '/tmp');
  a.push('--remount-ro', '/', '--chdir', SANDBOX_WORKDIR);
  return a;
}

let disableUsernsSupport: Promise<boolean> | null = null;

/** Whether this bwrap knows `--disable-userns` (0.8+). */
export function bwrapSupportsDisableUserns(): Promise<boolean> {
  disableUsernsSupport ??= run(BWRAP, ['--help'], {}, 5000).then(
    (r) => r.output.includes('--disable-userns'),
    () => false,
  );
  return disableUsernsSupport;
}

function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, output: output.slice(0, 2000) });
    });
  });
}

export interface ProbeOptions {
  /** The uid/gid the sandbox will use (default 65534 when the server is root). */
  uid?: number | null;
  gid?: number | null;
}

/**
 * Checks that bubblewrap can build the strict sandbox here, as the unprivileged uid: it needs unprivileged user
 * namespaces (often disabled in containers or by sysctl/AppArmor), which only a real attempt can tell.
 */
export async function probeBubblewrap(opts: ProbeOptions = {}): Promise<ProbeResult> {
  if (process.platform !== 'linux') return { ok: false, reason: 'bubblewrap needs Linux' };
  for (const bin of [BWRAP, PRLIMIT]) {
    try {
      await access(bin, constants.X_OK);
    } catch {
      return { ok: false, reason: `${bin} is not installed (apt-get install bubblewrap util-linux)` };
    }
  }
  const isRoot = process.getuid?.() === 0;
  const uid = opts.uid === undefined ? (isRoot ? 65534 : null) : opts.uid;
  const gid = opts.gid === undefined ? (isRoot ? 65534 : null) : opts.gid;
  const bw = [
    '--unshare-all',
    '--unshare-user',
    '--die-with-parent',
    '--new-session',
    '--ro-bind',
    '/usr',
    '/usr',
    ...layoutArgs(await detectHostLayout()),
  ];
  bw.push('--proc', '/proc', '--dev', '/dev', '--', PRLIMIT, '--nproc=16', '--', '/bin/sh', '-c', 'exit 0');
  const argv =
    uid !== null && gid !== null
      ? [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--', BWRAP, ...bw]
      : null;
  try {
    const r = argv
      ? await run(SETPRIV, argv, { PATH: '/usr/bin:/bin' }, 10_000)
      : await run(BWRAP, bw, { PATH: '/usr/bin:/bin' }, 10_000);
    if (r.code === 0) return { ok: true };
    return { ok: false, reason: `bubblewrap failed (exit ${r.code}): ${r.output.trim() || 'no output'}` };
  } catch (err) {
    return { ok: false, reason: `bubblewrap could not start: ${(err as Error).message}` };
  }
}
