import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecurityLevel } from '../../src/sandbox/index.js';
import {
  FORK_COUNTER,
  TEST_UIDS,
  file,
  isRunning,
  liveProcessesOf,
  makeSandbox,
  type TestSandbox,
} from './helpers.js';

/**
 * Resource limits, in both isolating levels, with cgroups OFF: this proves the rlimits alone contain each case
 * (CI containers often have no writable cgroup). cgroup.test.ts covers the cgroup extras.
 */
const MiB = 1024 * 1024;

describe.each<SecurityLevel>(['strict', 'whitelist'])('%s: resource limits', (level) => {
  const UID = level === 'strict' ? TEST_UIDS.limitsStrict : TEST_UIDS.limitsWhitelist;
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await makeSandbox(level, UID, {
      cgroups: 'off',
      limits: { maxMemoryMb: 128, maxProcesses: 16, maxFileBytes: 1 * MiB, maxOutputBytes: 64 * 1024 },
    });
  });
  afterAll(async () => {
    await sb.dispose();
  });

  it('a fork bomb is bounded by the process limit, the call returns, nothing is left', async () => {
    const bomb = `
import os, sys, time
reported = False
while True:
    try:
        os.fork()
    except OSError as e:
        if not reported:
            print(f"{type(e).__name__}: {e}", file=sys.stderr, flush=True)
            reported = True
        time.sleep(0.01)
`;
    const started = Date.now();
    const r = await sb.run('python3 bomb.py', [file('bomb.py', bomb)], { timeoutMs: 2000 });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(r.limitsHit).toEqual(expect.arrayContaining(['timeout', 'processes']));
    expect(r.stderr).toContain('BlockingIOError: [Errno 11] Resource temporarily unavailable');
    expect(await liveProcessesOf(UID)).toEqual([]);
  });

  it('counts processes per run: with maxProcesses 16 a script gets an exact number of forks', async () => {
    const r = await sb.run('python3 count.py', [file('count.py', FORK_COUNTER)]);
    expect(r.exitCode).toBe(0);
    // strict: the runner (the sandbox's pid 1) + python take 2 of the 16 (counted inside the run's own user
    // namespace; the launcher runs as root, outside it; a plain command line runs without sh);
    // whitelist: python alone (the reaper runs as root; no other process of this uid exists: this describe's
    // tests are sequential).
    expect(r.stdout).toBe(level === 'strict' ? '14\n' : '15\n');
    expect(await liveProcessesOf(UID)).toEqual([]);
  });

  it('allocating past the memory limit fails (python and node)', async () => {
    const py = await sb.run('python3 alloc.py', [
      file(
        'alloc.py',
        'try:\n    b = bytearray(256 * 1024 * 1024)\n    print("allocated", len(b))\nexcept MemoryError:\n    print("MemoryError")\n',
      ),
    ]);
    expect(py.exitCode).toBe(0);
    expect(py.stdout).toBe('MemoryError\n');
    // Below the limit works: the limit is the memory, not the interpreter's address-space reservations.
    const small = await sb.run('python3 small.py', [
      file('small.py', 'b = b"x" * (64 * 1024 * 1024)\nprint(len(b))\n'),
    ]);
    expect(small.stdout).toBe(`${64 * MiB}\n`);

    const js = await sb.run('node alloc.js', [
      file(
        'alloc.js',
        'try { const b = Buffer.alloc(256 * 1024 * 1024); console.log("allocated", b.length); } catch (e) { console.log(e.constructor.name, e.message); }\n',
      ),
    ]);
    expect(js.stdout).toBe('RangeError Array buffer allocation failed\n');
  });

  it('an uncaught allocation failure is reported as the memory limit', async () => {
    const r = await sb.run('python3 oom.py', [file('oom.py', 'b = bytearray(512 * 1024 * 1024)\n')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('MemoryError');
    expect(r.limitsHit).toEqual(['memory']);
  });

  it('a busy loop is killed at the CPU limit (timeout × maxCpuPercent), well before the wall-clock timeout', async () => {
    // timeout 10 s at 10 % → RLIMIT_CPU soft 1 s (SIGXCPU), hard 2 s. The wide margin keeps the test stable on a
    // busy 2-core CI machine (the loop needs 1 s of CPU, not of wall-clock time).
    const cpu = await makeSandbox(level, UID, {
      cgroups: 'off',
      limits: { timeoutMs: 10_000, maxCpuPercent: 10 },
    });
    try {
      const r = await cpu.run('python3 spin.py', [file('spin.py', 'while True:\n    pass\n')]);
      expect(r.signal).toBe('SIGXCPU');
      expect(r.exitCode).toBeNull();
      expect(r.timedOut).toBe(false);
      expect(r.limitsHit).toEqual(['cpu']);
      expect(r.durationMs).toBeGreaterThanOrEqual(950);
      expect(r.durationMs).toBeLessThan(10_000);
    } finally {
      await cpu.dispose();
    }
  });

  it('a process that sleeps past the timeout is killed with its group', async () => {
    const r = await sb.run('bash wait.sh', [file('wait.sh', 'sleep 30 &\nsleep 31\n')], { timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(r.exitCode).toBeNull();
    expect(r.limitsHit).toEqual(['timeout']);
    expect(r.durationMs).toBeLessThan(2000);
    expect(await liveProcessesOf(UID)).toEqual([]);
  });

  it('writing a huge file stops at the file size limit', async () => {
    const writer = `
import os
try:
    with open("big.bin", "wb") as f:
        for _ in range(64):
            f.write(b"\\0" * 65536)
    print("wrote all")
except OSError as e:
    print("OSError", e.errno)
`;
    const r = await sb.run('python3 write.py', [file('write.py', writer)]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('OSError 27\n'); // EFBIG
    expect(r.limitsHit).toEqual(['file_size']);
    expect(r.changedFiles).toEqual([{ path: 'big.bin', size: 1 * MiB }]);

    // A program that does not handle it dies of SIGXFSZ.
    const dd = await sb.run('bash dd.sh', [file('dd.sh', 'exec head -c 4000000 /dev/zero > big2.bin\n')]);
    expect(dd.signal).toBe('SIGXFSZ');
    expect(dd.limitsHit).toEqual(['file_size']);
    expect(dd.changedFiles).toEqual([{ path: 'big2.bin', size: 1 * MiB }]);
  });

  it('caps output per stream, keeps draining, and marks the truncation', async () => {
    const r = await sb.run('python3 loud.py', [
      file(
        'loud.py',
        'import sys\nsys.stdout.write("a" * 300000)\nsys.stderr.write("é" * 100000)\nprint("end")\n',
      ),
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdoutTruncated).toBe(true);
    expect(r.stderrTruncated).toBe(true);
    expect(r.stdout).toBe('a'.repeat(65536) + '\n…[truncated after 65536 bytes]');
    // Cut on a character boundary: 32768 two-byte characters.
    expect(r.stderr).toBe('é'.repeat(32768) + '\n…[truncated after 65536 bytes]');
    expect(r.limitsHit).toEqual(['output']);
  });

  it('kills a background process that outlives the script, without sleeps to synchronise', async () => {
    const r = await sb.run('bash bg.sh', [
      file(
        'bg.sh',
        'sleep 1000 &\necho $!\nnohup sleep 1001 >/dev/null 2>&1 &\necho $!\nsetsid sleep 1002 >/dev/null 2>&1 </dev/null &\necho $!\n',
      ),
    ]);
    expect(r.exitCode).toBe(0);
    const pids = r.stdout.trim().split('\n').map(Number);
    expect(pids).toHaveLength(3);
    if (level === 'whitelist') {
      // Host pids: each one is dead (gone or a zombie waiting for init) when run() resolves.
      for (const pid of pids) expect(await isRunning(pid)).toBe(false);
    }
    expect(await liveProcessesOf(UID)).toEqual([]);
  });
});
