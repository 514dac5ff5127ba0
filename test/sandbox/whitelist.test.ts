import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/errors.js';
import {
  RLIMITS_PY,
  TEST_UIDS,
  expectedRlimits,
  file,
  isRunning,
  liveProcessesOf,
  makeSandbox,
  tempDir,
  withLoopbackListener,
  type TestSandbox,
} from './helpers.js';

const UID = TEST_UIDS.whitelist;
let sb: TestSandbox;
let hostDir: string;

const skill = [
  file('SKILL.md', '---\nname: demo\n---\n'),
  file('scripts/x.py', 'print("x ran")\n'),
  file(
    'scripts/report.py',
    'import sys, os\nos.makedirs("out", exist_ok=True)\nopen("out/report.md", "w").write("# " + " ".join(sys.argv[1:]))\nprint("report", len(sys.argv) - 1)\n',
  ),
  file('scripts/count.sh', '#!/bin/bash\nset -eu\necho "args: $#"\nprintf "%s\\n" "$@" > args.txt\n', true),
  file(
    'scripts/upper.js',
    "const fs = require('fs');\nfs.writeFileSync('upper.txt', fs.readFileSync(process.argv[2], 'utf8').toUpperCase());\nconsole.log('ok');\n",
  ),
];

beforeAll(async () => {
  sb = await makeSandbox('whitelist', UID, { allowedPrograms: ['python', 'python3', 'node', 'bash', 'sh'] });
  hostDir = await tempDir('skillport-host-');
});
afterAll(async () => {
  await sb.dispose();
  await rm(hostDir, { recursive: true, force: true });
});

async function refusal(command: string, allowedPrograms?: string[]) {
  let target = sb;
  if (allowedPrograms) target = await makeSandbox('whitelist', UID, { allowedPrograms });
  try {
    await target.run(command, skill);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError;
    return { status: e.status, code: e.code, message: e.message, details: e.details };
  } finally {
    if (allowedPrograms) await target.dispose();
  }
  throw new Error(`command was not refused: ${command}`);
}

describe('whitelist: running skill scripts without a shell', () => {
  it('runs a python script with arguments and returns the file it created', async () => {
    const r = await sb.run('python3 scripts/report.py "Quarterly report" Q3', skill);
    expect(r).toMatchObject({ exitCode: 0, signal: null, timedOut: false, stdout: 'report 2\n', stderr: '' });
    expect(r.changedFiles).toEqual([
      { path: 'out/report.md', size: 21, data: Buffer.from('# Quarterly report Q3') },
    ]);
  });

  it('`python` means python3', async () => {
    const r = await sb.run('python scripts/x.py', skill);
    expect(r.stdout).toBe('x ran\n');
  });

  it('runs a bash script; shell syntax inside single quotes is plain data passed verbatim', async () => {
    const r = await sb.run(`bash scripts/count.sh 'a; rm -rf /' "b | c > d" '$(id)' '\`id\`'`, skill);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('args: 4\n');
    const args = 'a; rm -rf /\nb | c > d\n$(id)\n`id`\n';
    expect(r.changedFiles).toEqual([
      { path: 'args.txt', size: Buffer.byteLength(args), data: Buffer.from(args) },
    ]);
  });

  it('runs a node script on an input file', async () => {
    const r = await sb.run('node scripts/upper.js input/words.txt', skill, {
      inputFiles: [{ path: 'input/words.txt', data: Buffer.from('hello world') }],
    });
    expect(r.stdout).toBe('ok\n');
    expect(r.changedFiles).toEqual([{ path: 'upper.txt', size: 11, data: Buffer.from('HELLO WORLD') }]);
  });

  it('the environment is exactly the fixed set; SECRET_KEY and DATABASE_URL never reach the script', async () => {
    process.env.SECRET_KEY = 'sk-very-secret-value';
    process.env.DATABASE_URL = 'postgres://admin:pw@db/skillport';
    try {
      const r = await sb.run('python3 env.py', [
        file('env.py', 'import os, json\nprint(json.dumps(dict(os.environ), sort_keys=True))\n'),
      ]);
      const env = JSON.parse(r.stdout) as Record<string, string>;
      expect(Object.keys(env)).toEqual(['HOME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'TMPDIR']);
      expect(env.PATH).toBe('/usr/local/bin:/usr/bin:/bin');
      expect(env.LANG).toBe('C.UTF-8');
      expect(path.dirname(env.HOME!)).toBe(sb.workRoot);
      expect(env.TMPDIR).toBe(`${env.HOME}/.tmp`);
      expect(r.stdout).not.toContain('secret');
    } finally {
      delete process.env.SECRET_KEY;
      delete process.env.DATABASE_URL;
    }
  });

  it('runs as the unprivileged uid (real, effective, saved) with no groups, no capabilities and no_new_privs', async () => {
    const r = await sb.run('python3 who.py', [
      file(
        'who.py',
        'import os\nst = open("/proc/self/status").read()\nprint(os.getresuid(), os.getresgid(), os.getgroups())\nprint([l for l in st.splitlines() if l.startswith(("Cap", "NoNewPrivs"))])\n',
      ),
    ]);
    const none = '0000000000000000';
    expect(r.stdout).toBe(
      `(${UID}, ${UID}, ${UID}) (${UID}, ${UID}, ${UID}) []\n` +
        `['CapInh:\\t${none}', 'CapPrm:\\t${none}', 'CapEff:\\t${none}', 'CapBnd:\\t${none}', 'CapAmb:\\t${none}', 'NoNewPrivs:\\t1']\n`,
    );
  });

  it('runs with every rlimit of the configuration', async () => {
    // Without a pids cgroup: RLIMIT_NPROC is then the run's own process limit (see cgroup.test.ts for the other).
    const plain = await makeSandbox('whitelist', UID, { cgroups: 'off' });
    try {
      const r = await plain.run('python3 limits.py', [file('limits.py', RLIMITS_PY)]);
      expect(JSON.parse(r.stdout)).toEqual(expectedRlimits(plain.config));
    } finally {
      await plain.dispose();
    }
  });
});

describe('whitelist: refusals (HTTP 400 command_refused, nothing runs)', () => {
  const cases: Array<[string, string, string]> = [
    ['bash -c "echo hi"', 'inline_code', '-c'],
    ['sh -c id', 'inline_code', '-c'],
    ['python3 -c "print(1)"', 'inline_code', '-c'],
    ['python3 -m http.server', 'inline_code', '-m'],
    ['node -e "console.log(1)"', 'inline_code', '-e'],
    ['node --require ./x.js scripts/upper.js', 'inline_code', '--require'],
    ['python3 scripts/x.py; cat /etc/passwd', 'operator', ';'],
    ['python3 scripts/x.py $(id)', 'substitution', '$'],
    ['python3 scripts/x.py "$(id)"', 'substitution', '$'],
    ['python3 scripts/x.py $HOME', 'substitution', '$'],
    ['python3 scripts/x.py `id`', 'backticks', '`'],
    ['python3 scripts/x.py | cat', 'operator', '|'],
    ['python3 scripts/x.py > out.txt', 'redirection', '>'],
    ['python3 scripts/x.py < /etc/passwd', 'redirection', '<'],
    ['python3 scripts/x.py && ls', 'operator', '&&'],
    ['python3 scripts/x.py &', 'operator', '&'],
    ['python3 scripts/*.py', 'glob', 'scripts/*.py'],
    ['python3 scripts/x.py # comment', 'comment', '#'],
    ['curl http://example.com', 'blocked_program', 'curl'],
    ['wget http://example.com', 'blocked_program', 'wget'],
    ['nc -l 4444', 'blocked_program', 'nc'],
    ['sudo python3 scripts/x.py', 'blocked_program', 'sudo'],
    ['eval python3 scripts/x.py', 'blocked_program', 'eval'],
    ['exec python3 scripts/x.py', 'blocked_program', 'exec'],
    ['env python3 scripts/x.py', 'blocked_program', 'env'],
    ['/bin/cat SKILL.md', 'program_path', '/bin/cat'],
    ['./scripts/count.sh', 'program_path', './scripts/count.sh'],
    ['cat SKILL.md', 'program_not_allowed', 'cat'],
    ['FOO=1 python3 scripts/x.py', 'env_assignment', 'FOO=1'],
    ['python3 scripts/x.py /etc/shadow', 'absolute_path', '/etc/shadow'],
    ['python3 scripts/x.py /proc/1/environ', 'absolute_path', '/proc/1/environ'],
    ['python3 scripts/x.py --out=/tmp/x', 'absolute_path', '--out=/tmp/x'],
    ['python3 scripts/x.py ~/.ssh/id_rsa', 'absolute_path', '~/.ssh/id_rsa'],
    ['python3 scripts/x.py ../other-run/secret.txt', 'parent_path', '../other-run/secret.txt'],
    ['python3 scripts/x.py proc/../../etc', 'parent_path', 'proc/../../etc'],
    ['python3 scripts/x.py x/proc/self', 'sensitive_path', 'x/proc/self'],
    ['python3 ../x.py', 'parent_path', '../x.py'],
    ['python3 missing.py', 'script_not_found', 'missing.py'],
    ['python3', 'missing_script', ''],
    ["python3 'scripts/x.py", 'unbalanced_quotes', ''],
    ['python3 scripts/x.py\ncat /etc/passwd', 'control_characters', ''],
  ];

  it.each(cases)('%j → %s', async (command, problem, token) => {
    const e = await refusal(command);
    expect(e.status).toBe(400);
    expect(e.code).toBe('command_refused');
    expect(e.message).toMatch(/^Command refused: /);
    expect(e.details).toEqual(token ? { problem, token } : { problem });
  });

  it('rm -rf / is refused even when rm is allowed', async () => {
    const e = await refusal('rm -rf /', ['rm']);
    expect(e).toMatchObject({
      status: 400,
      code: 'command_refused',
      details: { problem: 'dangerous_command' },
    });
  });

  it('a refused command leaves no work dir behind', async () => {
    await refusal('bash -c "touch /tmp/pwned"');
    expect((await readdir(sb.workRoot)).filter((n) => n.startsWith('run-'))).toEqual([]);
  });
});

describe('whitelist: what the unprivileged uid can and cannot reach', () => {
  it("cannot read another run's dir, a private host file, the server data dir or /proc/1/environ", async () => {
    const sibling = path.join(sb.workRoot, 'run-otheruser');
    await mkdir(sibling, { recursive: true, mode: 0o700 });
    await writeFile(path.join(sibling, 'secret.txt'), 'other user secret', { mode: 0o600 });
    const hostFile = path.join(hostDir, 'host-secret.txt');
    await writeFile(hostFile, 'host secret', { mode: 0o600 });
    const dataDir = await tempDir('skillport-data-'); // mkdtemp: 0700, like a server data dir must be
    await writeFile(path.join(dataDir, 'skillport.db'), 'DATABASE CONTENT');
    const probe = `
import sys
for p in sys.argv[1:]:
    try:
        print(open(p).read())
    except Exception as e:
        print(type(e).__name__)
`;
    // Paths are handed over in an input file: absolute paths as command arguments are refused anyway.
    const targets = [
      path.join(sibling, 'secret.txt'),
      '../run-otheruser/secret.txt',
      hostFile,
      path.join(dataDir, 'skillport.db'),
      '/proc/1/environ',
      '/etc/shadow',
    ];
    const r = await sb.run('python3 probe.py', [
      file('probe.py', `import sys\nsys.argv[1:] = open("targets.txt").read().split("\\n")\n${probe}`),
      file('targets.txt', targets.join('\n')),
    ]);
    await rm(sibling, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(Array(targets.length).fill('PermissionError').join('\n') + '\n');
  });

  it('a symlink to a host file gives nothing the uid could not read, and is never collected', async () => {
    const hostFile = path.join(hostDir, 'linked-secret.txt');
    await writeFile(hostFile, 'TOP SECRET HOST DATA', { mode: 0o600 });
    const script = `
import os, sys
os.symlink(sys.argv[1], "leak.txt")
os.symlink("/etc/passwd", "passwd.txt")
os.mkfifo("fifo")
try:
    print(open("leak.txt").read())
except Exception as e:
    print(type(e).__name__)
`;
    const r = await sb.run('python3 link.py', [
      file('link.py', script.replace('sys.argv[1]', JSON.stringify(hostFile))),
    ]);
    expect(r.stdout).toBe('PermissionError\n');
    // The server (root) collects changed files: symlinks and FIFOs are neither followed nor read.
    expect(r.changedFiles).toEqual([]);
  });

  it('background processes (`&`, nohup, setsid) are killed when the script exits', async () => {
    const r = await sb.run('bash scripts/bg.sh', [
      file(
        'scripts/bg.sh',
        'sleep 1000 &\necho $!\nnohup sleep 1001 >/dev/null 2>&1 &\necho $!\nsetsid sleep 1002 >/dev/null 2>&1 </dev/null &\necho $!\n',
      ),
    ]);
    expect(r.exitCode).toBe(0);
    const pids = r.stdout.trim().split('\n').map(Number);
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(await isRunning(pid)).toBe(false);
    expect(await liveProcessesOf(UID)).toEqual([]);
    // …and nothing waits to be reaped either: the run's reaper collected every zombie.
    expect(await liveProcessesOf(UID, { includeZombies: true })).toEqual([]);
  });

  it('a process that leaves the group and the work dir is still killed when the uid is dedicated (uidPool)', async () => {
    const pooled = await makeSandbox('whitelist', UID, {
      uidPool: [TEST_UIDS.misc, TEST_UIDS.misc + 100, TEST_UIDS.misc + 200, TEST_UIDS.misc + 300],
      globalConcurrency: 4,
      cgroups: 'off',
    });
    try {
      const r = await pooled.run('bash escape.sh', [
        file('escape.sh', 'setsid bash -c "cd / && exec sleep 1003" >/dev/null 2>&1 </dev/null &\necho $!\n'),
      ]);
      const [pid] = r.stdout.trim().split('\n').map(Number);
      expect(pid).toBeGreaterThan(1);
      expect(await isRunning(pid!)).toBe(false);
      expect(await liveProcessesOf(TEST_UIDS.misc)).toEqual([]);
    } finally {
      await pooled.dispose();
    }
  });

  it('documented limitation: whitelist does not isolate the network (use strict)', async () => {
    const { result: r, connections } = await withLoopbackListener('hi\n', (port) =>
      sb.run(`python3 connect.py ${port}`, [
        file(
          'connect.py',
          'import socket, sys\ns = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)\nprint(s.recv(10))\n',
        ),
      ]),
    );
    expect(r.stdout).toBe("b'hi\\n'\n");
    expect(connections).toBe(1);
  });

  it('the work dir is private (0700, owned by the run uid) inside a 0711 work root', async () => {
    const r = await sb.run('python3 st.py', [
      file(
        'st.py',
        'import os\nst = os.stat(".")\nprint(oct(st.st_mode & 0o777), st.st_uid)\nprint(oct(os.stat("..").st_mode & 0o777))\n',
      ),
    ]);
    expect(r.stdout).toBe(`0o700 ${UID}\n0o711\n`);
  });
});
