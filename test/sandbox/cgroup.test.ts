import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups } from '../../src/sandbox/cgroup.js';
import { FORK_COUNTER, TEST_UIDS, file, isRunning, liveProcessesOf, makeSandbox } from './helpers.js';

/**
 * cgroups are optional (never required): these tests run where a memory/pids cgroup below our own is writable and
 * are skipped elsewhere. limits.test.ts proves the rlimit-only path.
 */
const UID = TEST_UIDS.cgroup;
const probe = await detectCgroups();
const controllers = probe?.controllers ?? [];
await probe?.close();
const hasMemory = controllers.includes('memory');
const hasPids = controllers.includes('pids');

async function ourCgroupDirs(): Promise<string[]> {
  // Every hierarchy our process is in: look for leftover skillport-<our pid>-* dirs.
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const self = (await readFile('/proc/self/cgroup', 'utf8')).split('\n').filter(Boolean);
  const found: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right || !right.startsWith('cgroup')) continue;
    const mountPoint = left.split(' ')[4]!;
    for (const entry of self) {
      const p = entry.split(':').slice(2).join(':');
      const dir = path.join(mountPoint, p);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const n of names) if (n.startsWith(`skillport-${process.pid}-`)) found.push(path.join(dir, n));
    }
  }
  return [...new Set(found)];
}

describe('optional cgroups', () => {
  it.skipIf(!hasMemory)('limits the memory of the whole run, not just of each process', async () => {
    const sb = await makeSandbox('strict', UID, { cgroups: 'auto', limits: { maxMemoryMb: 128 } });
    try {
      // Each process stays under RLIMIT_DATA (128 MiB) but together they need ~180 MiB: both cannot live to say
      // "done" (the OOM killer of the run's memory cgroup takes one). Without the cgroup both would.
      const script = `
import os, time
pid = os.fork()
b = b"x" * (90 * 1024 * 1024)
time.sleep(3)
print("done", flush=True)
if pid:
    os.waitpid(pid, 0)
`;
      const r = await sb.run('python3 two.py', [file('two.py', script)]);
      expect(r.limitsHit).toContain('memory');
      expect(r.stdout.split('\n').filter((l) => l === 'done').length).toBeLessThanOrEqual(1);
    } finally {
      await sb.dispose();
    }
  });

  it.skipIf(!hasPids)(
    'whitelist with one shared uid: the pids cgroup gives each concurrent run its own budget',
    async () => {
      const sb = await makeSandbox('whitelist', UID, {
        cgroups: 'auto',
        perUserConcurrency: 2,
        limits: { maxProcesses: 16 },
      });
      try {
        const [a, b] = await Promise.all([
          sb.run('python3 count.py', [file('count.py', FORK_COUNTER)]),
          sb.run('python3 count.py', [file('count.py', FORK_COUNTER)]),
        ]);
        // pids.max 16 per run: the launcher/reaper (root, but in the cgroup) + python + 14 children, for each run,
        // whatever the other does.
        expect([a.stdout, b.stdout]).toEqual(['14\n', '14\n']);
        expect(a.limitsHit).toEqual(['processes']);
        expect(await liveProcessesOf(UID)).toEqual([]);
      } finally {
        await sb.dispose();
      }
    },
  );

  it.skipIf(!probe)(
    'kills a process that left both the process group and the work dir (shared uid)',
    async () => {
      const sb = await makeSandbox('whitelist', UID, { cgroups: 'auto' });
      try {
        const r = await sb.run('bash escape.sh', [
          file(
            'escape.sh',
            'setsid bash -c "cd / && exec sleep 1004" >/dev/null 2>&1 </dev/null &\necho $!\n',
          ),
        ]);
        const pid = Number(r.stdout.trim());
        expect(pid).toBeGreaterThan(1);
        expect(await isRunning(pid)).toBe(false);
        expect(await liveProcessesOf(UID)).toEqual([]);
      } finally {
        await sb.dispose();
      }
    },
  );

  it.skipIf(!probe)('leaves no cgroup behind after close()', async () => {
    const sb = await makeSandbox('strict', UID, { cgroups: 'auto' });
    await sb.run('true');
    expect((await ourCgroupDirs()).length).toBeGreaterThan(0);
    await sb.dispose();
    expect(await ourCgroupDirs()).toEqual([]);
  });

  it('cgroup v2 (when mounted and writable): kill-only or with controllers, everything in the run dies', async () => {
    const v2 = await detectCgroups({ prefer: 2 });
    if (!v2 || v2.version !== 2) {
      await v2?.close();
      return; // no writable cgroup2 here: nothing to check (cgroups are optional)
    }
    try {
      const run = await v2.createRun({ memoryBytes: 64 * 1024 * 1024, pids: 8 });
      const child = spawn('/bin/sh', ['-c', 'read -r _; sleep 1000 & sleep 1001'], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      await run.enter(child.pid!);
      child.stdin!.end('\n');
      const exited = new Promise((r) => child.once('exit', r));
      expect(await run.killAll(3000)).toBe(0);
      await exited;
      await run.remove();
    } finally {
      await v2.close();
    }
    expect(await ourCgroupDirs()).toEqual([]);
  });
});
