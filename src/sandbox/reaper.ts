import { accessSync, constants } from 'node:fs';

/**
 * The launcher: the first program of every run, run by the server (root) before the uid drop. Written in Perl
 * because perl-base is Essential on Debian/Ubuntu, starts in ~2 ms and can make raw syscalls without modules.
 *
 * It is started ahead of its run (the sandbox keeps one spare, see launch.ts), so that perl's start is off the
 * run's path: it does the steps that need no run (0 and 1), then waits for the run's parameters on fd 3.
 * 0. Dies with the server (PR_SET_PDEATHSIG): a server killed with SIGKILL does not leave its runs going (strict
 *    runs die with it through bwrap's --die-with-parent; whitelist leftovers are swept at the next start, see
 *    runroot.ts).
 * 1. Closes every inherited file descriptor above 3 (strict: 5), with close_range(2) or one by one from
 *    /proc/self/fd. The server may have inherited descriptors without close-on-exec from whatever started it; an open
 *    directory descriptor in the sandbox would be a way around bubblewrap's mount namespace. fd 3 is our channel
 *    (parameters in, status out), closed before the command runs; fd 4 (strict) is bwrap's --info-fd, which bwrap
 *    closes itself; fd 5 (strict) is the channel of the runner inside the sandbox (strict-runner.ts).
 * 2. Parameters (launcherParams): the run's dir (its cwd), environment, cgroups, confinement and command. End of
 *    file instead: the sandbox is closing, it exits 0.
 * 3. Cgroup (optional): joins each of the run's cgroups (writes `0`, itself, into its join file: `tasks` on v1, see
 *    CgroupRun.joinFiles) before it starts or forks anything, so nothing of the command runs outside them. It runs
 *    as root here (before the uid drop), so it can; the server does not move it and wait. A failure is reported on
 *    fd 3 (`nocgroup`) and the run goes on with its rlimits.
 * 4. Reaper: becomes a child-subreaper (prctl PR_SET_CHILD_SUBREAPER), forks the command into its own process group
 *    and reaps every process of the run. Without it, orphans end up as zombies of the host's init: background
 *    processes of whitelist runs (`sleep 1000 &`), and in strict mode the sandbox's pid 1 (the runner), which can
 *    outlive the outer bwrap by a few milliseconds. Zombies count against RLIMIT_NPROC of the sandbox uid, and many
 *    containers have no reaping init (node as pid 1 never reaps them), so they would pile up run by run. The
 *    reaper runs as root: the script cannot kill it.
 *    Status on fd 3: `pid <pid>` when the command started, `exit <code> <signal>` when it ended. The reaper exits
 *    0 once no process of the run is left (every descendant, orphaned or not, stays its descendant), so a quick
 *    clean exit means there is nothing left to hunt for.
 * 5. Confinement, in the forked child before it execs the command (no setpriv, no prlimit: two programs less per
 *    run, 2–4 ms each): drops the capability bounding set, the supplementary groups, the gid and the uid (real,
 *    effective and saved: the permitted, effective and ambient capabilities go with root), clears the inheritable
 *    capabilities, sets no_new_privs, then the rlimits (whitelist; a strict run's are set by its runner, inside the
 *    user namespace). Any failure ends the child (exit 126) before it runs anything. Raw syscalls, since the
 *    modules that wrap them cost more to load than the programs did; where their numbers are not known here
 *    (nativeSyscalls() is null) the command line carries setpriv and prlimit instead.
 */
const LAUNCHER_SCRIPT = [
  'delete $ENV{PERL_SKIP_LOCALE_INIT};',
  '$SIG{PIPE} = "IGNORE";',
  'sub fail { print STDERR "sandbox: $_[0]: $!\\n"; exit 126; }',
  'my ($sys, $ppid, $keep) = @ARGV;',
  'my ($nr, $setgroups, $setresgid, $setresuid, $capset, $prlimit) = map { $_ + 0 } split(/,/, $sys);',
  // prctl(PR_SET_PDEATHSIG, SIGKILL): dies with the server (and bwrap, --die-with-parent, with it); then make sure
  // the server did not die before that.
  'if ($nr > 0) { syscall($nr, 1, 9, 0, 0, 0); exit 125 if getppid() != $ppid; }',
  // close_range($keep + 1, ~0U, 0): the same syscall number (436) on every Linux architecture.
  'if (syscall(436, $keep + 1, 0xFFFFFFFF, 0) != 0) {',
  '  opendir(my $d, "/proc/self/fd") or exit 125;',
  '  my @fds = grep { /^\\d+$/ && $_ > $keep } readdir($d);',
  '  closedir($d);',
  '  for my $fd (@fds) { if (open(my $h, "<&=", $fd)) { close($h); } }',
  '}',
  'open(my $st, "+<&=", 3) or exit 125;',
  'select((select($st), $| = 1)[0]);',
  // The parameters: their length in bytes on a line, then NUL-terminated strings.
  'my ($in, $len) = ("", undef);',
  'until (($len) = $in =~ /^(\\d+)\\n/) { sysread($st, $in, 65536, length($in)) or exit 0; }',
  'my $at = length($len) + 1;',
  'while (length($in) < $at + $len) { sysread($st, $in, 65536, length($in)) or exit 0; }',
  'my @p = split(/\\0/, substr($in, $at, $len), -1);',
  'pop(@p);',
  'my ($cwd, $nenv) = splice(@p, 0, 2);',
  'my %env = splice(@p, 0, 2 * $nenv);',
  'my @cgroups = splice(@p, 0, shift(@p));',
  // Numbers, not strings: syscall() passes a string argument as a pointer (to a variable's buffer: not to pack()'s
  // read-only result).
  'my ($uid, $gid, $nrl) = map { $_ + 0 } splice(@p, 0, 3);',
  'my @rl = map { $_ + 0 } splice(@p, 0, 3 * $nrl);',
  'my @cmd = @p;',
  'chdir($cwd) or exit 125;',
  '%ENV = %env;',
  'my $nocg = 0;',
  'for my $f (@cgroups) { my $h; $nocg = 1 unless open($h, ">", $f) && print($h "0\\n") && close($h); }',
  'syscall($nr, 36, 1, 0, 0, 0) if $nr > 0;', // prctl(PR_SET_CHILD_SUBREAPER, 1)
  'print $st "nocgroup\\n" if $nocg;',
  // The child waits on a pipe until its pid has been reported, so the server can always aim a kill at it, and
  // both sides put it in its own process group (the usual race-free setpgid idiom).
  'pipe(my $hr, my $hw) or exit 125;',
  'my $pid = fork();',
  'exit 125 unless defined $pid;',
  'if ($pid == 0) {',
  '  close($st); close($hw); setpgrp(0, 0);',
  '  if ($setresuid) {',
  '    if ($uid >= 0) {',
  // PR_CAPBSET_READ answers for every capability this kernel knows, then fails: drop each (PR_CAPBSET_DROP).
  '      for (my $c = 0; syscall($nr, 23, $c, 0, 0, 0) >= 0; $c++) { syscall($nr, 24, $c, 0, 0, 0) == 0 or fail("PR_CAPBSET_DROP"); }',
  '      syscall($setgroups, 0, 0) == 0 or fail("setgroups");',
  '      syscall($setresgid, $gid, $gid, $gid) == 0 or fail("setresgid");',
  '      syscall($setresuid, $uid, $uid, $uid) == 0 or fail("setresuid");',
  // capset(version 3, this process): effective, permitted and inheritable all empty.
  '      my ($hdr, $caps) = (pack("Ll", 0x20080522, 0), pack("L6", 0, 0, 0, 0, 0, 0));',
  '      syscall($capset, $hdr, $caps) == 0 or fail("capset");',
  '    }',
  '    syscall($nr, 38, 1, 0, 0, 0) == 0 or fail("PR_SET_NO_NEW_PRIVS");',
  '    while (my ($r, $s, $h) = splice(@rl, 0, 3)) { my $v = pack("QQ", $s, $h); syscall($prlimit, 0, $r, $v, 0) == 0 or fail("prlimit"); }',
  '  }',
  '  my $go; sysread($hr, $go, 1); close($hr);',
  '  exec { $cmd[0] } @cmd; print STDERR "exec $cmd[0]: $!\\n"; exit 127;',
  '}',
  'close($hr);',
  'setpgrp($pid, $pid);',
  'print $st "pid $pid\\n";',
  'close($hw);',
  'while ((my $w = waitpid(-1, 0)) > 0) {',
  '  if ($w == $pid) { my $s = $?; print $st "exit ", ($s >> 8), " ", ($s & 127), "\\n"; }',
  '}',
  'exit 0;',
].join('\n');

const PERL = '/usr/bin/perl';

/**
 * Added to the environment of the launcher and the runner, which delete it before anything else: perl then skips
 * loading the locale of LANG (C.UTF-8: 13 files, 0.2–0.8 ms of each perl's start), which neither script uses.
 */
export const PERL_STARTUP_ENV = { PERL_SKIP_LOCALE_INIT: '1' } as const;

/** prctl(2) syscall number for this architecture (0: unknown, the reaper then only forwards the status). */
export function prctlSyscallNumber(arch: string = process.arch): number {
  switch (arch) {
    case 'x64':
      return 157;
    case 'arm64':
    case 'riscv64':
    case 'loong64':
      return 167;
    case 'ia32':
    case 'arm':
    case 's390x':
      return 172;
    case 'ppc64':
      return 171;
    default:
      return 0;
  }
}

/** The syscalls the launcher and the runner confine a run with (see the launcher's step 4). */
export interface NativeSyscalls {
  prctl: number;
  setgroups: number;
  setresgid: number;
  setresuid: number;
  capset: number;
  prlimit64: number;
}

/** Their numbers on this architecture; null where they are not listed here (setpriv and prlimit are used then). */
export function nativeSyscalls(arch: string = process.arch): NativeSyscalls | null {
  switch (arch) {
    case 'x64':
      return { prctl: 157, setgroups: 116, setresgid: 119, setresuid: 117, capset: 126, prlimit64: 302 };
    case 'arm64': // asm-generic numbering
    case 'riscv64':
    case 'loong64':
      return { prctl: 167, setgroups: 159, setresgid: 149, setresuid: 147, capset: 91, prlimit64: 261 };
    default:
      return null;
  }
}

/** A resource limit as prlimit(1) names it, with its number in the generic Linux numbering (all but alpha, mips, sparc). */
const RLIMITS = { cpu: 0, fsize: 1, data: 2, core: 4, nproc: 6, nofile: 7, as: 9 } as const;
export type Rlimit = { name: keyof typeof RLIMITS; soft: number; hard: number };

/** Rlimits as the launcher's and the runner's arguments: their count, then resource, soft and hard of each. */
export function rlimitArgs(rlimits: readonly Rlimit[]): string[] {
  return [String(rlimits.length), ...rlimits.flatMap((r) => [RLIMITS[r.name], r.soft, r.hard].map(String))];
}

export function launcherAvailable(): boolean {
  try {
    accessSync(PERL, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The launcher's argv: the same for every run of a sandbox, so that it can be started before its run (its
 * parameters follow on fd 3, see launcherParams).
 * @param keepFds highest descriptor kept open: 3 (its channel) or 5 (strict: bwrap's --info-fd and the runner's
 *   channel as well).
 * @param confines whether it confines the commands itself (nativeSyscalls() needed).
 */
export function launcherArgv(opts: {
  keepFds: 3 | 5;
  /** The process that spawns the launcher (it dies with that one): the spawn helper, or this process. */
  parentPid?: number;
  confines: boolean;
}): string[] {
  const sys = nativeSyscalls();
  if (opts.confines && !sys) throw new Error(`the sandbox launcher cannot confine a run on ${process.arch}`);
  return [
    PERL,
    '-e',
    LAUNCHER_SCRIPT,
    opts.confines && sys
      ? [sys.prctl, sys.setgroups, sys.setresgid, sys.setresuid, sys.capset, sys.prlimit64].join(',')
      : String(prctlSyscallNumber()),
    String(opts.parentPid ?? process.pid),
    String(opts.keepFds),
  ];
}

/** What a launcher is to run, written to its fd 3 (see the launcher's step 2). */
export function launcherParams(run: {
  /** Its working dir (the run's dir). */
  cwd: string;
  /** The environment the command gets (strict: bwrap's, which clears it for the sandbox). */
  env: Record<string, string>;
  /** The cgroup files the launcher joins through before anything else (none: no cgroup; see CgroupRun). */
  cgroupJoinFiles: readonly string[];
  /**
   * What the child does before it execs the command (a launcher started with `confines`): switch to uid/gid
   * (null: stay, a non-root server; no_new_privs either way) and set `rlimits`. Null: nothing (the command line
   * confines itself, or the level is `disabled`).
   */
  confine: { uid: number | null; gid: number | null; rlimits: readonly Rlimit[] } | null;
  command: readonly string[];
}): Buffer {
  const c = run.confine;
  const strings = [
    run.cwd,
    String(Object.keys(run.env).length),
    ...Object.entries(run.env).flat(),
    String(run.cgroupJoinFiles.length),
    ...run.cgroupJoinFiles,
    String(c?.uid ?? -1),
    String(c?.gid ?? -1),
    ...rlimitArgs(c?.rlimits ?? []),
    ...run.command,
  ];
  if (strings.some((s) => s.includes('\0'))) throw new Error('NUL in a launcher parameter');
  const body = Buffer.from(strings.map((s) => `${s}\0`).join(''));
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}

export type ReaperEvent =
  | { type: 'pid'; pid: number }
  | { type: 'exit'; code: number | null; signal: number | null }
  | { type: 'nocgroup' };

/** Parses a status line of the reaper (fd 3). */
export function parseReaperLine(line: string): ReaperEvent | null {
  if (line === 'nocgroup') return { type: 'nocgroup' };
  let m = /^pid (\d+)$/.exec(line);
  if (m) return { type: 'pid', pid: Number(m[1]) };
  m = /^exit (\d+) (\d+)$/.exec(line);
  if (m) {
    const sig = Number(m[2]);
    return sig
      ? { type: 'exit', code: null, signal: sig }
      : { type: 'exit', code: Number(m[1]), signal: null };
  }
  return null;
}
