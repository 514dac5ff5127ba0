import { readdir, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_UIDS, file, liveProcessesOf, makeSandbox, type TestSandbox } from './helpers.js';

/**
 * The work dir limit (everything a run can write) in strict mode is a tmpfs size: the kernel refuses the byte past
 * it, whatever the speed of the writer. Overshoot: 0 bytes of data; the tmpfs counts whole pages, so a file's last
 * partial page (< 4 KiB per file) counts in full.
 */
const MiB = 1024 * 1024;
const LIMIT = 8 * MiB;

describe('strict: the work dir limit cannot be overshot', () => {
  const UID = TEST_UIDS.workdirStrict;
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await makeSandbox('strict', UID, {
      cgroups: 'off',
      // Larger than the work dir: RLIMIT_FSIZE must not be what stops these writers.
      limits: { maxWorkdirBytes: LIMIT, maxFileBytes: 256 * MiB },
    });
  });
  afterAll(async () => {
    await sb.dispose();
  });

  it('one big file: the write fails with ENOSPC at the limit, the run reports the limit', async () => {
    const writer = `
import os
n = 0
try:
    with open("big.bin", "wb") as f:
        for _ in range(400):            # 400 MiB, 50x the limit, as fast as it can
            f.write(b"x" * ${MiB})
            f.flush()
            n += ${MiB}
except OSError as e:
    print("OSError", e.errno)
print(os.path.getsize("big.bin") <= ${LIMIT})
`;
    const r = await sb.run('python3 w.py', [file('w.py', writer)]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('OSError 28\nTrue\n');
    expect(r.limitsHit).toEqual(['workdir_size']);
    const big = r.changedFiles.find((f) => f.path === 'big.bin');
    expect(big!.size).toBeLessThanOrEqual(LIMIT);
    expect(big!.size).toBeGreaterThan(LIMIT - MiB);
  });

  it('many files, in the work dir and in /tmp: the total stops at the limit', async () => {
    const writer = `
import os
total = 0
err = None
try:
    for i in range(2000):               # up to 2000 x 256 KiB = 500 MiB
        d = "/tmp" if i % 2 else "out"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/f{i}.bin", "wb") as f:
            f.write(b"y" * 262144)
        total += 262144
except OSError as e:
    err = e.errno
print(err, total <= ${LIMIT})
`;
    const r = await sb.run('python3 many.py', [file('many.py', writer)]);
    expect(r.stdout).toBe('28 True\n');
    expect(r.limitsHit).toContain('workdir_size');
    // /tmp is a link into the work dir (its hidden .tmp, never returned): only out/ is reported.
    const reported = r.changedFiles.reduce((n, f) => n + f.size, 0);
    expect(r.changedFiles.every((f) => f.path.startsWith('out/'))).toBe(true);
    expect(reported).toBeLessThanOrEqual(LIMIT);
    expect(reported).toBeGreaterThan(LIMIT / 2 - MiB);
  });

  it('nothing else is writable: /, /dev, /run are read-only; /dev/shm is capped separately', async () => {
    const probe = `
import errno
for p in ["/big", "/dev/big", "/run/big", "/run/skillport/input/big", "/usr/big"]:
    try:
        open(p, "wb").write(b"z")
        print(p, "written")
    except OSError as e:
        print(p, errno.errorcode[e.errno])
`;
    const r = await sb.run('python3 ro.py', [file('ro.py', probe)]);
    expect(r.stdout).toBe(
      '/big EROFS\n/dev/big EROFS\n/run/big EROFS\n/run/skillport/input/big EROFS\n/usr/big EROFS\n',
    );
  });

  it('skill and input files that do not fit the tmpfs are refused with 413', async () => {
    // 4.4 MiB of data passes the up-front byte check, but 1100 files of 4 KiB + 1 byte need 2 pages (8 KiB) each.
    const files = Array.from({ length: 1100 }, (_, i) => file(`f${i}.txt`, Buffer.alloc(4097, 'a')));
    await expect(sb.run('true', files)).rejects.toMatchObject({ status: 413, code: 'payload_too_large' });
  });

  it("the runner that holds the work dir open is out of the script's reach", async () => {
    // pid 1 is the runner: non-dumpable, so its descriptors cannot be opened.
    const r = await sb.run(
      'ls /proc/1/fd >/dev/null 2>&1 && echo reachable || echo unreachable; echo x > out.txt',
    );
    expect(r.stdout).toBe('unreachable\n');
    expect(r.changedFiles).toEqual([{ path: 'out.txt', size: 2, data: Buffer.from('x\n') }]);
    // …and, as the pid namespace's init, it cannot be killed from inside: the kernel drops the signal.
    const killed = await sb.run('echo y > out.txt; kill -9 1; kill -9 $PPID; echo alive');
    expect(killed.stdout).toBe('alive\n');
    expect(killed.exitCode).toBe(0);
    expect(killed.changedFiles).toEqual([{ path: 'out.txt', size: 2, data: Buffer.from('y\n') }]);
    expect(await liveProcessesOf(UID)).toEqual([]);
  });

  it('leaves no process and no work dir behind', async () => {
    expect(await liveProcessesOf(UID)).toEqual([]);
    const left = await readdir(sb.workRoot).catch(() => []);
    expect(left.filter((n) => n.startsWith('run-'))).toEqual([]);
    expect((await stat(sb.workRoot)).isDirectory()).toBe(true);
  });
});

describe('whitelist (a uid of its own per run): shared temp dirs and /proc', () => {
  const UIDS = [TEST_UIDS.workdirWhitelist, TEST_UIDS.workdirWhitelist2];
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await makeSandbox('whitelist', UIDS[0]!, {
      cgroups: 'off',
      uidPool: UIDS,
      globalConcurrency: 2,
      perUserConcurrency: 2,
      limits: { maxWorkdirBytes: LIMIT, maxFileBytes: 256 * MiB },
    });
  });
  afterAll(async () => {
    await sb.dispose();
  });

  const tag = `skillport-wl-${process.pid}`;
  const leftovers = async () => {
    const found: string[] = [];
    for (const d of ['/tmp', '/var/tmp', '/dev/shm']) {
      for (const n of await readdir(d)) if (n.startsWith(tag)) found.push(`${d}/${n}`);
    }
    return found;
  };
  const writer = (mib: number, extra = '') => `
import os
for d in ["/tmp", "/var/tmp", "/dev/shm"]:
    os.makedirs(f"{d}/${tag}-dir", exist_ok=True)
    with open(f"{d}/${tag}-dir/data.bin", "wb") as f:
        f.write(b"t" * ${MiB} * ${mib})
    with open(f"{d}/${tag}-file", "wb") as f:
        f.write(b"u")
${extra}
print("written")
`;

  it('what a run leaves in /tmp, /var/tmp and /dev/shm is removed after it', async () => {
    const r = await sb.run('python3 t.py', [file('t.py', writer(1))]);
    expect(r.stdout).toBe('written\n');
    expect(r.limitsHit).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it('…and counts against the work dir limit', async () => {
    // 3 x 3 MiB = 9 MiB > 8 MiB: the watchdog or the final count reports it, whichever comes first.
    const r = await sb.run('python3 t.py', [file('t.py', writer(3))]);
    expect(r.limitsHit).toContain('workdir_size');
    expect(await leftovers()).toEqual([]);
  });

  it('a script that keeps writing to /tmp is stopped by the watchdog', async () => {
    const endless = `
import time
with open("/tmp/${tag}-endless", "wb") as f:
    for _ in range(2000):
        f.write(b"e" * ${MiB})
        f.flush()
        time.sleep(0.01)
print("never")
`;
    const r = await sb.run('python3 e.py', [file('e.py', endless)]);
    expect(r.stdout).toBe('');
    expect(r.timedOut).toBe(false);
    expect(r.limitsHit).toContain('workdir_size');
    expect(r.durationMs).toBeLessThan(10_000);
    expect(await leftovers()).toEqual([]);
  });

  it("a run cannot read another user's concurrent command line in /proc (whitelist runs one at a time)", async () => {
    const secret = `TOPSECRET${process.pid}`;
    const sleeper = 'import sys, time\ntime.sleep(1.5)\nprint("slept", sys.argv[1])\n';
    const spy = `
import os, time
deadline = time.time() + 1.0
seen = False
while time.time() < deadline and not seen:
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if b"${secret}" in open(f"/proc/{p}/cmdline", "rb").read():
                    seen = True
            except OSError:
                pass
    time.sleep(0.02)
print("seen" if seen else "not seen")
`;
    const a = sb.sandbox.run({
      userId: 'alice',
      files: [file('a.py', sleeper)],
      command: `python3 a.py ${secret}`,
    });
    const b = sb.sandbox.run({ userId: 'mallory', files: [file('b.py', spy)], command: 'python3 b.py' });
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.stdout).toBe(`slept ${secret}\n`);
    expect(rb.stdout).toBe('not seen\n');
    for (const uid of UIDS) expect(await liveProcessesOf(uid)).toEqual([]);
  });
});
