import { accessSync, constants } from 'node:fs';

/**
 * The launcher: the first program of every run, run by the server (root) before the uid drop. Written in Perl
 * because perl-base is Essential on Debian/Ubuntu, starts in ~2 ms and can make raw syscalls without modules.
 *
 * 0. Dies with the server (PR_SET_PDEATHSIG): a server killed with SIGKILL does not leave its runs going (strict
 *    runs die with it through bwrap's --die-with-parent; whitelist leftovers are swept at the next start, see
 *    runroot.ts). *
 * 1. Cgroup (optional): joins each of the run's cgroups (writes `0`, itself, into its join file: `tasks` on v1,
 *    see CgroupRun.joinFiles) before it starts or forks anything, so nothing of the command runs outside them. It runs as root here (before the uid
 *    drop), so it can; the server no longer moves it and waits (a round trip of 2–27 ms per run). A failure is
 *    reported on fd 3 (`nocgroup`) and the run goes on with its rlimits, as before.
 * 2. Closes every inherited file descriptor above 3 (strict: 4), with close_range(2) or one by one from
 *    /proc/self/fd. The server may have inherited descriptors without close-on-exec from whatever started it; an open
 *    directory descriptor in the sandbox would be a way around bubblewrap's mount namespace. fd 3 is our status
 *    channel, closed before the command runs; fd 4 (strict) is bwrap's --info-fd, which bwrap closes itself;
 *    fd 5 (strict) is the channel of the runner inside the sandbox (strict-runner.ts).
 * 3. Reaper: becomes a child-subreaper (prctl PR_SET_CHILD_SUBREAPER), forks the command into its own process group
 *    and reaps every process of the run. Without it, orphans end up as zombies of the host's init: background
 *    processes of whitelist runs (`sleep 1000 &`), and in strict mode bwrap's pid 1, which outlives the outer bwrap
 *    by a few milliseconds. Zombies count against RLIMIT_NPROC of the sandbox uid, and many containers have no
 *    reaping init (node as pid 1 never reaps them), so they would pile up run by run. The reaper runs as root: the
 *    script cannot kill it.
 *    Status on fd 3: `pid <pid>` when the command started, `exit <code> <signal>` when it ended. The reaper exits
 *    0 once no process of the run is left (every descendant, orphaned or not, stays its descendant), so a quick
 *    clean exit means there is nothing left to hunt for.
 * Without `reap` the launcher simply execs the command.
 */
const LAUNCHER_SCRIPT = [
  '$SIG{PIPE} = "IGNORE";',
  'my ($nr, $ppid, $reap, $keep, $ncg) = splice(@ARGV, 0, 5);',
  'my @cgroups = splice(@ARGV, 0, $ncg);',
  // prctl(PR_SET_PDEATHSIG, SIGKILL): dies with the server (and bwrap, --die-with-parent, with it); then make sure
  // the server did not die before that.
  'if ($nr > 0) { syscall($nr, 1, 9, 0, 0, 0); exit 125 if getppid() != $ppid; }',
  'my $nocg = 0;',
  'for my $f (@cgroups) { my $h; $nocg = 1 unless open($h, ">", $f) && print($h "0\\n") && close($h); }',
  // close_range($keep + 1, ~0U, 0): the same syscall number (436) on every Linux architecture.
  'if (syscall(436, $keep + 1, 0xFFFFFFFF, 0) != 0) {',
  '  opendir(my $d, "/proc/self/fd") or exit 125;',
  '  my @fds = grep { /^\\d+$/ && $_ > $keep } readdir($d);',
  '  closedir($d);',
  '  for my $fd (@fds) { if (open(my $h, "<&=", $fd)) { close($h); } }',
  '}',
  'if (!$reap) { exec { $ARGV[0] } @ARGV; print STDERR "exec $ARGV[0]: $!\\n"; exit 127; }',
  'syscall($nr, 36, 1, 0, 0, 0) if $nr > 0;', // prctl(PR_SET_CHILD_SUBREAPER, 1)
  'open(my $st, ">&=", 3) or exit 125;',
  'select((select($st), $| = 1)[0]);',
  'print $st "nocgroup\\n" if $nocg;',
  // The child waits on a pipe until its pid has been reported, so the server can always aim a kill at it, and
  // both sides put it in its own process group (the usual race-free setpgid idiom).
  'pipe(my $hr, my $hw) or exit 125;',
  'my $pid = fork();',
  'exit 125 unless defined $pid;',
  'if ($pid == 0) {',
  '  close($st); close($hw); setpgrp(0, 0);',
  '  my $go; sysread($hr, $go, 1); close($hr);',
  '  exec { $ARGV[0] } @ARGV; print STDERR "exec $ARGV[0]: $!\\n"; exit 127;',
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

export function launcherAvailable(): boolean {
  try {
    accessSync(PERL, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * @param keepFds highest descriptor kept open: 3 (status channel) or 5 (strict: bwrap's --info-fd and the
 *   runner's channel as well).
 */
export function launcherArgv(opts: {
  /** The cgroup files the launcher joins through before anything else (none: no cgroup; see CgroupRun). */
  cgroupJoinFiles: readonly string[];
  reap: boolean;
  keepFds: 3 | 5;
  /** The process that spawns the launcher (it dies with that one): the spawn helper, or this process. */
  parentPid?: number;
  command: string[];
}): string[] {
  return [
    PERL,
    '-e',
    LAUNCHER_SCRIPT,
    String(prctlSyscallNumber()),
    String(opts.parentPid ?? process.pid),
    opts.reap ? '1' : '0',
    String(opts.keepFds),
    String(opts.cgroupJoinFiles.length),
    ...opts.cgroupJoinFiles,
    ...opts.command,
  ];
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
