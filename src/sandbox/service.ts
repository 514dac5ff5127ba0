import { existsSync } from 'node:fs';
import { BWRAP, PRLIMIT, SETPRIV, type HostLayout } from './bwrap.js';

/**
 * Long-lived sandboxed services (an upstream MCP server over stdio), next to the per-call `run()` of
 * `sandbox.ts`. A service differs from a run: stdin/stdout are its protocol pipes, it has no wall-clock limit
 * (its supervisor stops it), and it keeps a writable state dir of its own between starts.
 *
 * It sees: /usr and the top-level system dirs read-only, the dynamic linker cache, its own /proc (pid namespace:
 * when its main process dies, the kernel kills everything it started), a minimal /dev, a private /tmp, its state
 * dir at /state (HOME), and the host paths it was given read-only (its install dir). Not the data dir, not other
 * users' files, not the server's environment (`--clearenv`; only the variables it was configured with). It runs
 * as an unprivileged uid, with no capabilities, in a new session, and dies with its parent (`--die-with-parent`).
 * Network: `none` unshares the network namespace (an empty loopback); `host` keeps the host's (admin only).
 */
export interface ServiceSpec {
  command: string;
  args: string[];
  /** Working dir (bound read-only at the same path), or /state. */
  cwd: string | null;
  /** Host paths bound read-only at the same path. */
  readPaths: string[];
  env: Record<string, string>;
  /** Host dir bound writable at /state, owned by `uid`. */
  stateDir: string;
  network: 'none' | 'host';
  /** The unprivileged uid/gid to run as when the server runs as root (null: stay the current user). */
  uid: number | null;
  gid: number | null;
  limits: { processes: number; openFiles: number; fileBytes: number };
}

export const SERVICE_STATE_DIR = '/state';
const PATH = '/usr/local/bin:/usr/bin:/bin';

/** The argv that starts a service in bubblewrap (spawn it detached: its own process group). */
export function serviceArgv(spec: ServiceSpec, layout: HostLayout): string[] {
  const bw: string[] = ['--unshare-all', '--unshare-user'];
  if (spec.network === 'host') bw.push('--share-net');
  bw.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'upstream', '--clearenv');
  const env = { PATH, HOME: SERVICE_STATE_DIR, LANG: 'C.UTF-8', ...spec.env };
  for (const [k, v] of Object.entries(env)) bw.push('--setenv', k, v);
  bw.push('--ro-bind', '/usr', '/usr');
  for (const l of layout)
    bw.push(...(l.kind === 'symlink' ? ['--symlink', l.target, l.path] : ['--ro-bind', l.path, l.path]));
  for (const f of ['/etc/ld.so.cache', '/etc/alternatives', '/etc/ssl', '/etc/ca-certificates'])
    if (existsSync(f)) bw.push('--ro-bind', f, f);
  if (spec.network === 'host' && existsSync('/etc/resolv.conf'))
    bw.push('--ro-bind', '/etc/resolv.conf', '/etc/resolv.conf');
  bw.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  for (const p of new Set([...spec.readPaths, ...(spec.cwd ? [spec.cwd] : [])])) bw.push('--ro-bind', p, p);
  bw.push('--bind', spec.stateDir, SERVICE_STATE_DIR, '--chdir', spec.cwd ?? SERVICE_STATE_DIR);
  const limits = [
    `--nproc=${spec.limits.processes}`,
    `--nofile=${spec.limits.openFiles}`,
    `--fsize=${spec.limits.fileBytes}`,
  ];
  bw.push('--', PRLIMIT, ...limits, '--', spec.command, ...spec.args);
  if (spec.uid === null || spec.gid === null) return [BWRAP, ...bw];
  return [
    SETPRIV,
    `--reuid=${spec.uid}`,
    `--regid=${spec.gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--',
    BWRAP,
    ...bw,
  ];
}
