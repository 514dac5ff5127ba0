import { readFile, readlink, statfs } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { SANDBOX_INPUT, SANDBOX_WORKDIR } from './bwrap.js';
import { delay } from './procs.js';
import { nativeSyscalls, prctlSyscallNumber, rlimitArgs, type Rlimit } from './reaper.js';
import { collectChanges, type CollectOptions, type CollectResult, type Manifest } from './workdir.js';

/** How long the sandbox's processes get to be reaped after the runner's kill(-1) before we give up reading. */
const SETTLE_TIMEOUT_MS = 2000;

/**
 * The runner: the only program bwrap starts inside the strict sandbox, its pid 1, in Perl like the launcher.
 *
 * The work dir is a size-capped tmpfs inside the sandbox's mount namespace (see buildBwrapArgs), so the kernel
 * refuses the byte past the limit; it also vanishes with the namespace. The runner therefore:
 * 1. makes itself non-dumpable (prctl PR_SET_DUMPABLE 0), so that the script, although the same uid, can neither
 *    ptrace it nor open its descriptors through /proc;
 * 2. sets the run's rlimits on itself (prlimit64), which the command inherits: here, inside the user namespace,
 *    RLIMIT_NPROC counts this run's processes only (where nativeSyscalls() is null, prlimit(1) does it before);
 * 3. creates /work/.tmp (TMPDIR; /tmp links to it) and copies the prepared files (bound read-only) into the tmpfs,
 *    keeping their modes and times: `nospace` on fd 5 when they do not fit. In Perl, not cp: one program less;
 * 4. runs the command in a child, without fd 5: its argv as given (`/bin/sh -c LINE` when the line needs a shell,
 *    else the words themselves, see plainCommandArgv: one interpreter less per run), and reaps the orphans the
 *    script leaves (as pid 1, it inherits them) until the command itself ends;
 * 5. then SIGKILLs every other process of the sandbox (kill(-1) inside the pid namespace), reaps those already
 *    dead, writes `exit <status>` on fd 5 (signals as 128+N, like a shell), and waits on fd 5;
 * 6. meanwhile the server reads the changed files through /proc/<runner>/root/work, then writes a byte (or closes
 *    fd 5) and the runner exits with the command's status; the pid namespace, and with it the sandbox, ends.
 * The script cannot kill the runner (pid 1, see buildBwrapArgs), nor ptrace it or use its channel.
 */
const RUNNER_SCRIPT = [
  'delete $ENV{PERL_SKIP_LOCALE_INIT};', // see PERL_STARTUP_ENV
  // Numbers, not strings: syscall() passes a string argument as a pointer (to a variable's buffer).
  'my ($nr, $prlimit, $nrl) = map { $_ + 0 } splice(@ARGV, 0, 3);',
  'my @rl = map { $_ + 0 } splice(@ARGV, 0, 3 * $nrl);',
  'my ($in, $work, @cmd) = @ARGV;',
  'syscall($nr, 4, 0, 0, 0, 0) if $nr > 0;', // prctl(PR_SET_DUMPABLE, 0)
  'while (my ($r, $s, $h) = splice(@rl, 0, 3)) {',
  '  my $v = pack("QQ", $s, $h);',
  '  if (syscall($prlimit, 0, $r, $v, 0) != 0) { print STDERR "sandbox: prlimit: $!\\n"; exit 125; }',
  '}',
  'open(my $ctl, "+<&=", 5) or exit 125;',
  'select((select($ctl), $| = 1)[0]);',
  // Only dirs and regular files were prepared, and nothing else runs yet in the sandbox to change them.
  'sub copy {',
  '  my ($from, $to) = @_;',
  '  opendir(my $d, $from) or return 0;',
  '  my @names = grep { $_ ne "." && $_ ne ".." } readdir($d);',
  '  closedir($d);',
  '  for my $name (@names) {',
  '    my ($f, $t) = ("$from/$name", "$to/$name");',
  '    my @st = lstat($f) or return 0;',
  '    if (-d _) { mkdir($t, 0700) && copy($f, $t) or return 0; }',
  '    else {',
  '      open(my $i, "<", $f) && open(my $o, ">", $t) or return 0;',
  '      my ($buf, $n);',
  '      while ($n = sysread($i, $buf, 65536)) { (syswrite($o, $buf) // -1) == $n or return 0; }',
  '      defined($n) && close($o) or return 0;',
  '    }',
  '    chmod($st[2] & 07777, $t) && utime($st[8], $st[9], $t) or return 0;',
  '  }',
  '  return 1;',
  '}',
  // Like `cp -a in/. work/`: the work dir also takes the mode (0700) and times of the prepared dir.
  'my @root = stat($in);',
  'unless (@root && mkdir("$work/.tmp", 0700) && copy($in, $work) && chmod($root[2] & 07777, $work) && utime($root[8], $root[9], $work)) {',
  '  print $ctl "nospace\\n";',
  '  exit 125;',
  '}',
  'my $pid = fork();',
  'exit 125 unless defined $pid;',
  'if ($pid == 0) { close($ctl); exec { $cmd[0] } @cmd; print STDERR "$cmd[0]: $!\\n"; exit 127; }',
  'my $s = 0;',
  'while ((my $w = waitpid(-1, 0)) > 0) { if ($w == $pid) { $s = $?; last; } }',
  'my $code = ($s & 127) ? 128 + ($s & 127) : ($s >> 8);',
  'kill(9, -1);',
  '1 while waitpid(-1, 1) > 0;', // WNOHANG: the server counts a zombie as dead anyway
  'print $ctl "exit $code\\n";',
  'my $go; sysread($ctl, $go, 1);',
  'exit $code;',
].join('\n');

/**
 * The runner's argv (inside the sandbox: /usr is bound read-only, so /usr/bin/perl is the host's). `command` is the
 * argv the runner execs (a bare program name is looked up on the sandbox's PATH). `rlimits` need nativeSyscalls().
 */
export function runnerArgv(command: readonly string[], rlimits: readonly Rlimit[]): string[] {
  const sys = nativeSyscalls();
  if (rlimits.length > 0 && !sys) throw new Error(`the sandbox runner cannot set rlimits on ${process.arch}`);
  return [
    '/usr/bin/perl',
    '-e',
    RUNNER_SCRIPT,
    String(prctlSyscallNumber()),
    String(sys?.prlimit64 ?? 0),
    ...rlimitArgs(rlimits),
    SANDBOX_INPUT,
    SANDBOX_WORKDIR,
    ...command,
  ];
}

/** The runner's fd inside the sandbox (and the index of its socket in the server's spawn stdio). */
export const RUNNER_FD = 5;

type RunnerEvent = { type: 'exit'; code: number } | { type: 'nospace' };

function parseRunnerLine(line: string): RunnerEvent | null {
  if (line === 'nospace') return { type: 'nospace' };
  const m = /^exit (\d+)$/.exec(line);
  return m ? { type: 'exit', code: Number(m[1]) } : null;
}

/** What the runner said so far; `onExit` is called once, when it reports the command's end. */
export function listenToRunner(
  fd: Duplex,
  onExit: (code: number) => void,
): { readonly exitCode: number | null; readonly noSpace: boolean } {
  const state = { exitCode: null as number | null, noSpace: false };
  let buf = '';
  fd.on('error', () => undefined);
  fd.on('data', (d: Buffer) => {
    buf = (buf + d.toString('latin1')).slice(-256);
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const ev = parseRunnerLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (ev?.type === 'nospace') state.noSpace = true;
      else if (ev?.type === 'exit' && state.exitCode === null) {
        state.exitCode = ev.code;
        onExit(ev.code);
      }
    }
  });
  return state;
}

/** The run's work dir as the server sees it: through the root of the runner (the sandbox's pid 1). */
function hostViewOfWorkdir(nsInitPid: number): string {
  return `/proc/${nsInitPid}/root${SANDBOX_WORKDIR}`;
}

/** Identity of the sandbox's mount namespace (`mnt:[…]`), to make sure a pid still names the same sandbox. */
export function mountNamespaceOf(pid: number): Promise<string | null> {
  return readlink(`/proc/${pid}/ns/mnt`).catch(() => null);
}

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'latin1').catch(() => null);
  if (text === null) return [-1]; // unknown: never counts as settled
  return text.split(' ').filter(Boolean).map(Number);
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1').catch(() => null);
  if (stat === null) return true; // gone
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return state === 'Z' || state === 'X';
}

/**
 * True once the runner (the sandbox's pid 1) is the only process left in the sandbox: every process of a pid
 * namespace descends from its pid 1 (orphans are reparented to it), so when none of the runner's children is alive,
 * nothing else is; and the runner (non-dumpable, blocked on fd 5) forks no more, so nothing can change the work dir
 * while the server reads it. Zombies are dead.
 */
async function onlyRunnerLeft(runnerPid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let live = false;
    for (const k of await childrenOf(runnerPid)) if (k < 0 || !(await isZombie(k))) live = true;
    if (!live) return true;
    if (Date.now() > deadline) return false;
    await delay(5);
  }
}

/** Whether the work dir's tmpfs is full (less than one page left), and how many inodes it holds. */
export async function workdirUsage(nsInitPid: number): Promise<{ full: boolean; inodes: number } | null> {
  try {
    const s = await statfs(hostViewOfWorkdir(nsInitPid));
    return { full: s.bavail * s.bsize < 4096, inodes: s.files - s.ffree };
  } catch {
    return null;
  }
}

/**
 * The changed files of a strict run whose runner reported the end of the command, read while the runner holds the
 * sandbox open. Null when the sandbox is not in the expected state (a process of the script still alive, or the
 * pid no longer names the same sandbox): nothing is read then.
 */
export async function collectFromSandbox(
  nsInitPid: number,
  mountNs: string | null,
  manifest: Manifest,
  opts: CollectOptions,
): Promise<{ collected: CollectResult; full: boolean } | null> {
  if (!(nsInitPid > 1) || mountNs === null) return null;
  if (!(await onlyRunnerLeft(nsInitPid, SETTLE_TIMEOUT_MS))) return null;
  if ((await mountNamespaceOf(nsInitPid)) !== mountNs) return null;
  const usage = await workdirUsage(nsInitPid);
  const collected = await collectChanges(hostViewOfWorkdir(nsInitPid), manifest, { ...opts, rootAsIs: true });
  if ((await mountNamespaceOf(nsInitPid)) !== mountNs) return null;
  return { collected, full: usage?.full ?? false };
}
