import { chmod, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  createSandbox,
  defaultSandboxConfig,
  type RunRequest,
  type RunResult,
  type Sandbox,
  type SandboxConfig,
  type SandboxLimits,
  type SecurityLevel,
} from '../../src/sandbox/index.js';

/**
 * Each test file runs its commands as its own uid, so that process counts (RLIMIT_NPROC is per uid) and the
 * "no process of this uid is left" checks never see another file's runs (vitest runs files in parallel).
 */
export const TEST_UIDS = {
  strict: 61001,
  whitelist: 61002,
  limitsStrict: 61003,
  limitsWhitelist: 61007,
  concurrency: 61004,
  cgroup: 61005,
  misc: 61006,
  workdirStrict: 61008,
  workdirWhitelist: 61009,
  runRoot: 61010,
  workdirWhitelist2: 61011,
  spawner: 61012,
} as const;

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface TestSandbox {
  sandbox: Sandbox;
  workRoot: string;
  config: SandboxConfig;
  run(command: string, files?: RunRequest['files'], extra?: Partial<RunRequest>): Promise<RunResult>;
  dispose(): Promise<void>;
}

export async function makeSandbox(
  level: SecurityLevel,
  uid: number,
  opts: { limits?: Partial<SandboxLimits> } & Partial<Omit<SandboxConfig, 'limits' | 'level'>> = {},
): Promise<TestSandbox> {
  const base = await tempDir('skillport-sbx-test-');
  await chmod(base, 0o711); // mkdtemp makes it 0700: the sandbox uid must be able to traverse it
  const workRoot = path.join(base, 'runs');
  const { limits, ...rest } = opts;
  const warnings: unknown[] = [];
  const config = defaultSandboxConfig({
    level,
    workRoot,
    runAsUid: uid,
    runAsGid: uid,
    onWarning: (m, d) => warnings.push([m, d]),
    ...rest,
    limits: { timeoutMs: 15_000, ...limits },
  });
  const sandbox = createSandbox(config);
  return {
    sandbox,
    workRoot,
    config,
    run: (command, files = [], extra = {}) => sandbox.run({ userId: 'user-a', files, command, ...extra }),
    dispose: async () => {
      await sandbox.close();
      await rm(base, { recursive: true, force: true });
    },
  };
}

export const file = (p: string, content: string | Buffer, executable = false) => ({
  path: p,
  data: Buffer.isBuffer(content) ? content : Buffer.from(content),
  executable,
});

/**
 * Live (non-zombie) processes whose real uid is `uid`. Zombies have exited and only wait to be reaped; pass
 * `includeZombies` to see them too (the sandbox's reaper should leave none).
 */
export async function liveProcessesOf(
  uid: number,
  { includeZombies = false }: { includeZombies?: boolean } = {},
): Promise<Array<{ pid: number; state: string; cmd: string }>> {
  const out: Array<{ pid: number; state: string; cmd: string }> = [];
  const gone = () => null; // the process exited while we looked
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(gone);
    if (status === null) continue;
    const m = /^Uid:\s+(\d+)/m.exec(status);
    const state = /^State:\s+(\S)/m.exec(status)?.[1] ?? '?';
    if (!m || Number(m[1]) !== uid) continue;
    if (!includeZombies && (state === 'Z' || state === 'X')) continue;
    const cmd = ((await readFile(`/proc/${name}/cmdline`, 'utf8').catch(gone)) ?? '')
      .replace(/\0/g, ' ')
      .trim();
    out.push({ pid: Number(name), state, cmd });
  }
  return out;
}

/** True when `pid` is running (exists and is not a zombie). */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Runs `fn` with a TCP listener on the host loopback that answers every connection with `reply`; returns what `fn`
 * returned and how many connections the listener accepted.
 */
export async function withLoopbackListener<T>(
  reply: string,
  fn: (port: number) => Promise<T>,
): Promise<{ result: T; connections: number }> {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.end(reply);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const result = await fn((server.address() as net.AddressInfo).port);
    return { result, connections };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

/**
 * A Python script that forks children (each blocked on a pipe until the parent is done) until fork fails or 100
 * are running, and prints how many it got.
 */
export const FORK_COUNTER = `
import os, sys, time
r, w = os.pipe()
n = 0
while n < 100:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)   # block until the parent closes the pipe
        os._exit(0)
    n += 1
print(n)
os.close(w)
`;

/** Prints the run's rlimits as JSON: `{ "as": [soft, hard], … }`. */
export const RLIMITS_PY = `import json, resource
names = ["as", "data", "cpu", "fsize", "nproc", "nofile", "core"]
print(json.dumps({n: resource.getrlimit(getattr(resource, "RLIMIT_" + n.upper())) for n in names}))
`;

/**
 * The rlimits every run of `config` must have (RLIMIT_NPROC: a strict run's, or a whitelist run's without a pids
 * cgroup), as RLIMITS_PY prints them.
 */
export function expectedRlimits(config: SandboxConfig): Record<string, [number, number]> {
  const l = config.limits;
  const MiB = 1024 * 1024;
  const cpu = Math.max(1, Math.ceil(((l.timeoutMs / 1000) * l.maxCpuPercent) / 100));
  const both = (n: number): [number, number] => [n, n];
  return {
    as: both((l.maxMemoryMb + 1024) * MiB),
    data: both(l.maxMemoryMb * MiB),
    cpu: [cpu, cpu + 1],
    fsize: both(l.maxFileBytes),
    nproc: both(l.maxProcesses),
    nofile: both(l.maxOpenFiles),
    core: both(0),
  };
}
