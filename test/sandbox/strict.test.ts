import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeBubblewrap } from '../../src/sandbox/index.js';
import { until } from '../helpers/until.js';
import {
  RLIMITS_PY,
  TEST_UIDS,
  expectedRlimits,
  file,
  liveProcessesOf,
  makeSandbox,
  tempDir,
  withLoopbackListener,
  type TestSandbox,
} from './helpers.js';

// No skip: where bubblewrap is missing (or user namespaces are blocked) every test here must fail.
const UID = TEST_UIDS.strict;
let sb: TestSandbox;
let hostDir: string;

beforeAll(async () => {
  sb = await makeSandbox('strict', UID);
  hostDir = await tempDir('skillport-host-');
});
afterAll(async () => {
  await sb.dispose();
  await rm(hostDir, { recursive: true, force: true });
});

describe('strict sandbox: running scripts', () => {
  it('runs as root here and bubblewrap works (CI installs it)', async () => {
    expect(process.getuid?.()).toBe(0);
    expect(await probeBubblewrap()).toEqual({ ok: true });
    expect(sb.sandbox.level).toBe('strict');
  });

  it('runs a python script from the files and returns the file it created', async () => {
    const r = await sb.run('python3 scripts/hello.py Ada', [
      file('SKILL.md', '---\nname: hello\n---\n'),
      file(
        'scripts/hello.py',
        'import sys, os\nprint("hello", sys.argv[1], os.getcwd())\nopen("out/greeting.txt", "w").write("hi " + sys.argv[1])\n',
      ),
      file('out/.keep', ''),
    ]);
    expect(r).toMatchObject({
      exitCode: 0,
      signal: null,
      timedOut: false,
      stdout: 'hello Ada /work\n',
      stderr: '',
      stdoutTruncated: false,
      stderrTruncated: false,
      limitsHit: [],
    });
    expect(r.changedFiles).toEqual([{ path: 'out/greeting.txt', size: 6, data: Buffer.from('hi Ada') }]);
  });

  it('runs an executable bash script (its executable bit kept) with a shell line', async () => {
    const r = await sb.run('./scripts/run.sh 3 && cat count.txt | wc -l', [
      file(
        'scripts/run.sh',
        '#!/bin/bash\nfor i in $(seq 1 "$1"); do echo "line $i"; done > count.txt\necho done\n',
        true,
      ),
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('done\n3\n');
    expect(r.changedFiles).toEqual([
      { path: 'count.txt', size: 21, data: Buffer.from('line 1\nline 2\nline 3\n') },
    ]);
  });

  it('runs a node script', async () => {
    const r = await sb.run('node scripts/sum.js 2 40', [
      file(
        'scripts/sum.js',
        "const [a, b] = process.argv.slice(2).map(Number);\nconsole.log(a + b);\nrequire('fs').writeFileSync('sum.json', JSON.stringify({ sum: a + b }));\n",
      ),
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('42\n');
    expect(r.stderr).toBe('');
    expect(r.changedFiles).toEqual([{ path: 'sum.json', size: 10, data: Buffer.from('{"sum":42}') }]);
  });

  it('reports a modified skill file without touching the Buffers passed in, and places input files', async () => {
    const original = Buffer.from('v1\n');
    const files = [
      file('data/state.txt', original),
      file('scripts/edit.sh', 'cat input/in.txt >> data/state.txt\n'),
    ];
    const r = await sb.run('sh scripts/edit.sh', files, {
      inputFiles: [{ path: 'input/in.txt', data: Buffer.from('v2\n') }],
    });
    expect(r.exitCode).toBe(0);
    expect(r.changedFiles).toEqual([{ path: 'data/state.txt', size: 6, data: Buffer.from('v1\nv2\n') }]);
    expect(original.toString()).toBe('v1\n');
    expect(files[0]!.data.toString()).toBe('v1\n');
  });

  it('deletes the work dir after the run', async () => {
    const { readdir } = await import('node:fs/promises');
    await sb.run('echo x > a.txt');
    expect((await readdir(sb.workRoot)).filter((n) => n.startsWith('run-'))).toEqual([]);
  });
});

describe('strict sandbox: isolation', () => {
  it('bubblewrap and all below it run as the run uid with no groups, no capabilities, no_new_privs (host view)', async () => {
    const stop = new AbortController();
    const run = sb.run('sleep 60', [], { signal: stop.signal });
    try {
      // The launcher (root, the reaper) forks; its child drops everything, then execs bwrap → runner → command.
      const procs = await until('the sandbox processes', async () => {
        const live = await liveProcessesOf(UID);
        return live.some((p) => p.cmd === 'sleep 60') ? live : null;
      });
      expect(procs.map((p) => p.cmd.split(' ')[0])).toEqual(
        expect.arrayContaining(['/usr/bin/bwrap', '/usr/bin/perl', 'sleep']),
      );
      const none = '0000000000000000';
      for (const p of procs) {
        const status = await readFile(`/proc/${p.pid}/status`, 'utf8');
        const field = (name: string) => new RegExp(`^${name}:[\\t ]*(.*)$`, 'm').exec(status)?.[1]?.trim();
        expect([field('Uid'), field('Gid')]).toEqual([
          `${UID}\t${UID}\t${UID}\t${UID}`,
          `${UID}\t${UID}\t${UID}\t${UID}`,
        ]);
        expect(field('Groups')).toBe('');
        for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(cap)).toBe(none);
        expect(field('NoNewPrivs')).toBe('1');
      }
    } finally {
      stop.abort();
    }
    await run;
  });

  it('runs with every rlimit of the configuration (RLIMIT_NPROC counted inside the run)', async () => {
    const r = await sb.run('python3 limits.py', [file('limits.py', RLIMITS_PY)]);
    expect(JSON.parse(r.stdout)).toEqual(expectedRlimits(sb.config));
  });

  it("cannot read another run's dir, a host file or the parent of its work dir", async () => {
    const sibling = path.join(sb.workRoot, 'run-otheruser');
    await mkdir(sibling, { recursive: true });
    await writeFile(path.join(sibling, 'secret.txt'), 'other user secret', { mode: 0o644 });
    const hostFile = path.join(hostDir, 'host-secret.txt');
    await writeFile(hostFile, 'host secret', { mode: 0o644 });
    const probe = `
import os
for p in [${JSON.stringify(path.join(sibling, 'secret.txt'))}, ${JSON.stringify(hostFile)}, "../run-otheruser/secret.txt"]:
    try:
        print(open(p).read())
    except Exception as e:
        print(type(e).__name__)
print(sorted(os.listdir("..")) == sorted(os.listdir("/")), "home" in os.listdir("/"), "root" in os.listdir("/"), "var" in os.listdir("/"))
`;
    const r = await sb.run('python3 probe.py', [file('probe.py', probe)]);
    await rm(sibling, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'FileNotFoundError\nFileNotFoundError\nFileNotFoundError\nTrue False False False\n',
    );
  });

  it('cannot see the server data dir; /proc shows only the sandbox, /etc only a generated minimum', async () => {
    const dataDir = await tempDir('skillport-data-');
    await writeFile(path.join(dataDir, 'skillport.db'), 'DATABASE CONTENT', { mode: 0o644 });
    const probe = `
import os
print(os.path.exists(${JSON.stringify(dataDir)}), os.path.exists(${JSON.stringify(path.join(dataDir, 'skillport.db'))}))
try:
    print(sorted(k.split("=")[0] for k in open("/proc/1/environ").read().split("\\0") if k))
except Exception as e:
    print(type(e).__name__)
print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print(os.path.exists("/etc/shadow"), sorted(os.listdir("/etc")))
print(open("/etc/passwd").read().splitlines()[1])
`;
    const r = await sb.run('python3 probe.py', [file('probe.py', probe)]);
    await rm(dataDir, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('False False');
    // pid 1 of the sandbox is the runner: non-dumpable, so not even its environment can be read.
    expect(lines[1]).toBe('PermissionError');
    // The runner (1; it copies the files itself) and python (2; a plain command line runs without sh): no host
    // process, no other process is visible.
    expect(lines[2]).toBe('[1, 2]');
    expect(lines[3]).toBe(
      "False ['alternatives', 'group', 'hosts', 'ld.so.cache', 'localtime', 'nsswitch.conf', 'passwd']",
    );
    expect(lines[4]).toBe(`sandbox:x:${UID}:${UID}:sandbox:/work:/bin/sh`);
  });

  it("never passes the server's environment (SECRET_KEY, DATABASE_URL) to the script", async () => {
    process.env.SECRET_KEY = 'sk-very-secret-value';
    process.env.DATABASE_URL = 'postgres://admin:pw@db/skillport';
    try {
      const r = await sb.run('env | sort; cat /proc/self/environ | tr "\\0" "\\n" | grep -c SECRET || true');
      expect(r.stdout).toBe(
        [
          'HOME=/work',
          'LANG=C.UTF-8',
          'PATH=/usr/local/bin:/usr/bin:/bin',
          'PWD=/work',
          'PYTHONDONTWRITEBYTECODE=1',
          'TMPDIR=/work/.tmp',
          '0',
          '',
        ].join('\n'),
      );
      expect(r.stdout).not.toContain('sk-very-secret-value');
    } finally {
      delete process.env.SECRET_KEY;
      delete process.env.DATABASE_URL;
    }
  });

  it('cannot open a TCP connection to a listener on the host loopback', async () => {
    const { result: r, connections } = await withLoopbackListener('hello from host\n', (port) =>
      sb.run(`python3 connect.py ${port}`, [
        file(
          'connect.py',
          'import socket, sys\ntry:\n    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)\n    print("connected", s.recv(100))\nexcept Exception as e:\n    print(type(e).__name__)\n',
        ),
      ]),
    );
    expect(r.stdout).toBe('ConnectionRefusedError\n');
    expect(connections).toBe(0);
  });

  it('a symlink to a host file leads nowhere, and symlinks are never followed when collecting files', async () => {
    const hostFile = path.join(hostDir, 'linked-secret.txt');
    await writeFile(hostFile, 'TOP SECRET HOST DATA', { mode: 0o644 });
    const script = `
import os
os.symlink(${JSON.stringify(hostFile)}, "leak.txt")
os.symlink("/etc/passwd", "passwd.txt")
try:
    print(open("leak.txt").read())
except Exception as e:
    print(type(e).__name__)
print(open("passwd.txt").read().startswith("root:x:0:0:root:/root:/usr/sbin/nologin"))
`;
    const r = await sb.run('python3 link.py', [
      file('link.py', script),
      // A skill cannot ship a symlink: files are Buffers written as regular files.
    ]);
    expect(r.stdout).toBe('FileNotFoundError\nTrue\n');
    expect(r.changedFiles).toEqual([]);
  });

  it('a background process (`sleep 1000 &`, nohup, setsid) does not outlive the call', async () => {
    const r = await sb.run('bash bg.sh', [
      file(
        'bg.sh',
        'sleep 1000 &\nnohup sleep 1001 >/dev/null 2>&1 &\nsetsid sleep 1002 >/dev/null 2>&1 < /dev/null &\necho started\n',
      ),
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('started\n');
    expect(r.durationMs).toBeLessThan(5000);
    // run() resolves only after the sandbox is torn down: nothing of this uid may be running now.
    expect(await liveProcessesOf(UID)).toEqual([]);
    // …and nothing waits to be reaped either: the run's reaper collected every zombie (bwrap's pid 1 included).
    expect(await liveProcessesOf(UID, { includeZombies: true })).toEqual([]);
  });
});
