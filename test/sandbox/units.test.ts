import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/errors.js';
import {
  createSandbox,
  defaultSandboxConfig,
  parseWhitelistCommand,
  resolveSecurityLevel,
} from '../../src/sandbox/index.js';
import { CappedCapture, utf8Boundary } from '../../src/sandbox/output.js';
import { normalizeRelativePath } from '../../src/sandbox/paths.js';
import { plainCommandArgv } from '../../src/sandbox/command-parse.js';
import { procHidesOtherUids } from '../../src/sandbox/procs.js';
import { nativeSyscalls, parseReaperLine, prctlSyscallNumber } from '../../src/sandbox/reaper.js';
import { TEST_UIDS, file, makeSandbox, tempDir, type TestSandbox } from './helpers.js';

const allowedPrograms = ['python', 'python3', 'node', 'bash', 'sh'];
const knownFiles = new Set(['scripts/a.py', 'run.sh', 'app.js']);

describe('parseWhitelistCommand', () => {
  it('returns the exact argv that will be executed', () => {
    expect(
      parseWhitelistCommand('python scripts/a.py --n 3 "two words"', { allowedPrograms, knownFiles }),
    ).toEqual({
      program: 'python3',
      args: ['scripts/a.py', '--n', '3', 'two words'],
      script: 'scripts/a.py',
    });
    expect(
      parseWhitelistCommand('python3 -u -B ./scripts//a.py x=1', { allowedPrograms, knownFiles }),
    ).toEqual({
      program: 'python3',
      args: ['-u', '-B', 'scripts/a.py', 'x=1'],
      script: 'scripts/a.py',
    });
    expect(parseWhitelistCommand("bash -e run.sh 'a b'", { allowedPrograms, knownFiles })).toEqual({
      program: 'bash',
      args: ['-e', 'run.sh', 'a b'],
      script: 'run.sh',
    });
    expect(parseWhitelistCommand('node --no-warnings app.js', { allowedPrograms, knownFiles })).toEqual({
      program: 'node',
      args: ['--no-warnings', 'app.js'],
      script: 'app.js',
    });
  });

  it('refuses combined inline-code flags and unknown interpreter options', () => {
    const problem = (cmd: string) => {
      try {
        parseWhitelistCommand(cmd, { allowedPrograms, knownFiles });
      } catch (e) {
        return (e as AppError).details;
      }
      return null;
    };
    expect(problem('python3 -Ic "import os"')).toEqual({ problem: 'inline_code', token: '-Ic' });
    expect(problem('bash -xc id')).toEqual({ problem: 'inline_code', token: '-xc' });
    expect(problem('node -pe 1')).toEqual({ problem: 'inline_code', token: '-pe' });
    expect(problem('node --inspect=0.0.0.0:9229 app.js')).toEqual({
      problem: 'inline_code',
      token: '--inspect=0.0.0.0:9229',
    });
    expect(problem('node --eval=1')).toEqual({ problem: 'inline_code', token: '--eval=1' });
    expect(problem('python3 -W ignore scripts/a.py')).toEqual({ problem: 'interpreter_option', token: '-W' });
    expect(problem('python3 -')).toEqual({ problem: 'inline_code', token: '-' });
    expect(problem('   ')).toEqual({ problem: 'empty' });
    expect(problem('python3 ' + 'a'.repeat(9000))).toEqual({ problem: 'too_long' });
  });
});

describe('plainCommandArgv (strict: which lines run without /bin/sh -c)', () => {
  it('splits one simple command into the words a shell would pass', () => {
    expect(plainCommandArgv('python3 -c "print(1)"')).toEqual(['python3', '-c', 'print(1)']);
    expect(plainCommandArgv("  python3\tscripts/a.py 'two words; $HOME' x=1 a,b:c@d%e+f ")).toEqual([
      'python3',
      'scripts/a.py',
      'two words; $HOME',
      'x=1',
      'a,b:c@d%e+f',
    ]);
    expect(plainCommandArgv('node a"b c"\'d\'')).toEqual(['node', 'ab cd']);
    expect(plainCommandArgv('python3 ""')).toEqual(['python3', '']);
  });

  it('leaves every line a shell would change to the shell', () => {
    for (const line of [
      'python3 a.py | head',
      'python3 a.py > out.txt',
      'python3 a.py && echo ok',
      'python3 a.py; ls',
      'ls *.py',
      'ls ~',
      'cat $HOME/x',
      'python3 -c "print($x)"',
      'python3 -c "a\\b"',
      'echo `id`',
      'python3 a\\ b',
      'FOO=1 python3 a.py',
      'echo hi',
      'cd /tmp',
      'if true',
      'exec python3',
      "'python3' a.py",
      'python3 a.py # comment',
      'python3 "unbalanced',
      'python3 a.py\nls',
      'python3 é',
      '   ',
    ]) {
      expect(plainCommandArgv(line), line).toBeNull();
    }
  });
});

describe('normalizeRelativePath', () => {
  it('normalises harmless forms', () => {
    expect(normalizeRelativePath('./a//b/./c.txt')).toBe('a/b/c.txt');
    expect(normalizeRelativePath('dir/file')).toBe('dir/file');
  });
  it.each([
    ['', 'empty'],
    ['/etc/passwd', 'absolute path'],
    ['../x', "'..' segment"],
    ['a/../../x', "'..' segment"],
    ['~/x', 'home-relative path'],
    ['a\\b', 'backslash'],
    ['a\nb', 'control characters'],
    ['./', 'empty'],
  ])('refuses %j (%s)', (p, problem) => {
    expect(() => normalizeRelativePath(p)).toThrow(AppError);
    try {
      normalizeRelativePath(p);
    } catch (e) {
      expect(e).toMatchObject({ status: 400, code: 'invalid_path', details: { path: p, problem } });
    }
  });
});

describe('output capture', () => {
  it('cuts on a UTF-8 boundary', () => {
    const b = Buffer.from('aé€😀');
    expect(utf8Boundary(b)).toBe(10);
    expect(utf8Boundary(b.subarray(0, 9))).toBe(6);
    expect(utf8Boundary(b.subarray(0, 5))).toBe(3);
    expect(utf8Boundary(b.subarray(0, 2))).toBe(1);
  });
  it('keeps the first max bytes, counts the rest and marks the truncation', () => {
    const c = new CappedCapture(4);
    c.push(Buffer.from('ab'));
    c.push(Buffer.from('cdef'));
    c.push(Buffer.from('gh'));
    expect(c.text()).toBe('abcd\n…[truncated after 4 bytes]');
    expect(c.truncated).toBe(true);
    expect(c.totalBytes).toBe(8);
  });
  it('finds limit markers split across chunks', () => {
    const c = new CappedCapture(10, [['file_size', /File too large/]]);
    c.push(Buffer.from('OSError: [Errno 27] File t'));
    c.push(Buffer.from('oo large'));
    expect([...c.seen]).toEqual(['file_size']);
  });
});

describe('reaper protocol', () => {
  it('parses status lines', () => {
    expect(parseReaperLine('pid 42')).toEqual({ type: 'pid', pid: 42 });
    expect(parseReaperLine('exit 3 0')).toEqual({ type: 'exit', code: 3, signal: null });
    expect(parseReaperLine('exit 0 9')).toEqual({ type: 'exit', code: null, signal: 9 });
    expect(parseReaperLine('nocgroup')).toEqual({ type: 'nocgroup' });
    expect(parseReaperLine('garbage')).toBeNull();
    expect(prctlSyscallNumber('x64')).toBe(157);
    expect(prctlSyscallNumber('arm64')).toBe(167);
  });
  it('knows the confinement syscalls where it drops privileges itself, and only there', () => {
    expect(nativeSyscalls('x64')).toEqual({
      prctl: 157,
      setgroups: 116,
      setresgid: 119,
      setresuid: 117,
      capset: 126,
      prlimit64: 302,
    });
    expect(nativeSyscalls('arm64')?.setresuid).toBe(147);
    // Elsewhere setpriv and prlimit run in the chain instead.
    expect(nativeSyscalls('s390x')).toBeNull();
  });
});

describe('resolveSecurityLevel', () => {
  it('defaults to strict when bubblewrap works, else whitelist with a warning', () => {
    expect(resolveSecurityLevel(undefined, { ok: true })).toEqual({ level: 'strict' });
    const r = resolveSecurityLevel(undefined, { ok: false, reason: 'no userns' });
    expect(r.level).toBe('whitelist');
    expect(r.warning).toContain('no userns');
  });
  it('fails closed when strict is requested but unavailable', () => {
    expect(() => resolveSecurityLevel('strict', { ok: false, reason: 'bwrap missing' })).toThrow(
      "Sandbox level 'strict' was requested but bubblewrap is not usable (bwrap missing)",
    );
    expect(resolveSecurityLevel('strict', { ok: true })).toEqual({ level: 'strict' });
  });
  it('warns for whitelist and disabled', () => {
    expect(resolveSecurityLevel('whitelist', { ok: true }).warning).toMatch(/network/);
    expect(resolveSecurityLevel('disabled', { ok: true })).toMatchObject({ level: 'disabled' });
    expect(resolveSecurityLevel('disabled', { ok: true }).warning).toMatch(/WITHOUT isolation/);
  });
});

describe('createSandbox configuration', () => {
  const base = { workRoot: '/var/tmp/skillport-test-unused' };
  it('refuses dangerous configurations up front', () => {
    expect(() =>
      createSandbox(defaultSandboxConfig({ ...base, allowedPrograms: ['python3', 'curl'] })),
    ).toThrow("'curl' cannot be an allowed program");
    expect(() => createSandbox(defaultSandboxConfig({ ...base, runAsUid: null, runAsGid: null }))).toThrow(
      'refusing to run scripts as root',
    );
    expect(() =>
      createSandbox(
        defaultSandboxConfig({ workRoot: '/srv/skillport/data/runs', dataDir: '/srv/skillport/data' }),
      ),
    ).toThrow('workRoot must be outside the data dir');
    expect(() => createSandbox(defaultSandboxConfig({ ...base, workRoot: 'relative/runs' }))).toThrow(
      'workRoot must be an absolute path',
    );
    expect(() => createSandbox(defaultSandboxConfig({ ...base, uidPool: [61000] }))).toThrow(
      'uidPool needs at least globalConcurrency entries',
    );
    expect(() => createSandbox(defaultSandboxConfig({ ...base, limits: { timeoutMs: 0 } }))).toThrow(
      'timeoutMs must be a positive number',
    );
  });

  it('refuses a shared (sticky, world-writable) work root at the first run', async () => {
    const sticky = await tempDir('skillport-sticky-');
    await chmod(sticky, 0o1777);
    const sb = createSandbox(
      defaultSandboxConfig({ workRoot: sticky, runAsUid: TEST_UIDS.misc, runAsGid: TEST_UIDS.misc }),
    );
    await expect(sb.run({ userId: 'u', files: [], command: 'true' })).rejects.toMatchObject({
      status: 503,
      code: 'sandbox_unavailable',
    });
    await sb.close();
    await rm(sticky, { recursive: true, force: true });
  });

  it('refuses a work root that the sandbox uid cannot traverse to', async () => {
    const dir = await tempDir('skillport-private-'); // 0700
    const sb = createSandbox(
      defaultSandboxConfig({
        workRoot: path.join(dir, 'runs'),
        runAsUid: TEST_UIDS.misc,
        runAsGid: TEST_UIDS.misc,
      }),
    );
    const err = await sb.run({ userId: 'u', files: [], command: 'true' }).catch((e: AppError) => e);
    expect(err).toMatchObject({ status: 503, code: 'sandbox_unavailable' });
    expect((err as AppError).message).toContain('is not traversable by other users');
    await sb.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('request validation (before anything runs)', () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await makeSandbox('strict', TEST_UIDS.misc, {
      limits: { maxInputFiles: 2, maxInputBytes: 10, maxWorkdirBytes: 100 },
    });
  });
  afterAll(async () => {
    await sb.dispose();
  });

  const inputs = (n: number, size = 1) =>
    Array.from({ length: n }, (_, i) => ({ path: `in/${i}.txt`, data: Buffer.alloc(size) }));

  it.each([
    ['absolute skill path', [file('/etc/cron.d/x', 'x')], [], 400, 'invalid_path'],
    ['.. in skill path', [file('a/../../x', 'x')], [], 400, 'invalid_path'],
    ['absolute input path', [], [{ path: '/tmp/x', data: Buffer.from('x') }], 400, 'invalid_path'],
    ['.. in input path', [], [{ path: '../x', data: Buffer.from('x') }], 400, 'invalid_path'],
    ['duplicate path', [file('a.txt', '1'), file('./a.txt', '2')], [], 400, 'invalid_path'],
    ['file/dir conflict', [file('a', '1'), file('a/b', '2')], [], 400, 'invalid_path'],
    ['dir/file conflict', [file('a/b', '1'), file('a', '2')], [], 400, 'invalid_path'],
    ['reserved .tmp', [file('.tmp/x', '1')], [], 400, 'invalid_path'],
    ['too many input files', [], inputs(3), 413, 'payload_too_large'],
    ['too many input bytes', [], inputs(1, 11), 413, 'payload_too_large'],
    ['work dir too big', [file('big', Buffer.alloc(101))], [], 413, 'payload_too_large'],
  ] as const)('%s → %i %s', async (_name, files, inputFiles, status, code) => {
    await expect(
      sb.sandbox.run({ userId: 'u', files: [...files], inputFiles: [...inputFiles], command: 'true' }),
    ).rejects.toMatchObject({ status, code });
  });

  it('a request timeout can shorten but not extend the configured one', async () => {
    await expect(
      sb.sandbox.run({ userId: 'u', files: [], command: 'true', timeoutMs: -1 }),
    ).rejects.toMatchObject({
      status: 400,
    });
    const r = await sb.sandbox.run({ userId: 'u', files: [], command: 'sleep 5', timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
  });

  it('input files land where asked, inside the work dir', async () => {
    const r = await sb.sandbox.run({
      userId: 'u',
      files: [],
      inputFiles: [{ path: 'deep/er/in.txt', data: Buffer.from('hey') }],
      command: 'cat deep/er/in.txt; ls -la deep/er | tail -1 | cut -c1-10',
    });
    expect(r.stdout).toBe('hey-rw-r--r--\n');
  });
});

describe('disabled level', () => {
  it('runs directly, still with the fixed environment and a process-group kill', async () => {
    const dir = await tempDir('skillport-disabled-');
    await chmod(dir, 0o711);
    await mkdir(path.join(dir, 'runs'));
    const sb = createSandbox(defaultSandboxConfig({ level: 'disabled', workRoot: path.join(dir, 'runs') }));
    process.env.SECRET_KEY = 'sk-disabled';
    try {
      const r = await sb.run({
        userId: 'u',
        files: [],
        command: 'echo $SECRET_KEY-$HOME-$(id -u); sleep 1000 & echo $!',
      });
      const [line, pid] = r.stdout.trim().split('\n');
      expect(line).toMatch(new RegExp(`^-${path.join(dir, 'runs')}/run-[A-Za-z0-9]+-0$`));
      const { isRunning } = await import('./helpers.js');
      expect(await isRunning(Number(pid))).toBe(false);
    } finally {
      delete process.env.SECRET_KEY;
      await sb.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('inherited file descriptors', () => {
  it('descriptors the server inherited without close-on-exec never reach the script', async () => {
    const { spawn } = await import('node:child_process');
    const { openSync, closeSync } = await import('node:fs');
    const hostDir = await tempDir('skillport-fd-host-');
    const dirFd = openSync(hostDir, 'r');
    const fileFd = openSync(path.join(hostDir, 'f.txt'), 'w');
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(import.meta.dirname, 'fixtures', 'inherited-fds.ts'),
          String(TEST_UIDS.misc),
        ],
        { stdio: ['ignore', 'pipe', 'inherit', 'ignore', dirFd, fileFd] },
      );
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise((r) => child.on('close', r));
      expect(code).toBe(0);
      // 0, 1, 2 and the descriptor listdir() itself opened: nothing inherited, so fd 4 cannot be used.
      expect(JSON.parse(out)).toEqual({
        strict: '[0, 1, 2, 3] FileNotFoundError',
        whitelist: '[0, 1, 2, 3] FileNotFoundError',
      });
    } finally {
      closeSync(dirFd);
      closeSync(fileFd);
      await rm(hostDir, { recursive: true, force: true });
    }
  });
});

describe('procHidesOtherUids', () => {
  const line = (opts: string) =>
    `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc ${opts}`;
  it.each([
    ['rw', false],
    ['rw,hidepid=0', false],
    ['rw,hidepid=2', true],
    ['rw,hidepid=invisible', true],
    ['rw,hidepid=1', true],
    ['rw,hidepid=ptraceable,subset=pid', true],
  ])('%s → %s', (opts, hidden) => {
    expect(procHidesOtherUids(`${line(opts)}\n`)).toBe(hidden);
  });
  it('only the mount at /proc counts', () => {
    expect(procHidesOtherUids('30 22 0:40 / /other/proc rw - proc proc rw,hidepid=2\n')).toBe(false);
  });
});
