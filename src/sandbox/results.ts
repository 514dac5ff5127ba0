import { constants as osConstants } from 'node:os';
import { PayloadTooLargeError } from '../shared/errors.js';
import type { CgroupRun } from './cgroup.js';
import type { Exit, Launched, SandboxContext } from './context.js';
import { sweepSharedTemp } from './shared-temp.js';
import type { Slot } from './slots.js';
import { collectFromSandbox } from './strict-runner.js';
import type { LimitHit, RunResult, SandboxLimits } from './types.js';
import { type CollectResult, type Manifest, collectChanges } from './workdir.js';

/** What a run's stderr says when it hit a limit the kernel enforces by failing a call (scanned by CappedCapture). */
export const STDERR_MARKERS: ReadonlyArray<readonly [LimitHit, RegExp]> = [
  [
    'memory',
    /MemoryError|Cannot allocate memory|[Aa]llocation failed|out of memory|\bENOMEM\b|std::bad_alloc/,
  ],
  [
    'processes',
    /fork: (?:retry: )?Resource temporarily unavailable|[Cc]an(?:'|no)t fork|BlockingIOError: \[Errno 11\]|\bEAGAIN\b/,
  ],
  ['file_size', /File too large|\bEFBIG\b|File size limit exceeded/],
];
/** Strict only: the work dir is the run's only writable file system, so "disk full" is its limit. */
export const WORKDIR_FULL_MARKER: readonly [LimitHit, RegExp] = [
  'workdir_size',
  /No space left on device|\bENOSPC\b/,
];

/** The order of `RunResult.limitsHit`. */
const LIMIT_ORDER: readonly LimitHit[] = [
  'timeout',
  'cpu',
  'memory',
  'processes',
  'file_size',
  'workdir_size',
  'output',
  'changed_files',
];

export const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(osConstants.signals).map(([name, num]) => [num as number, name]),
);

/** Strict: the changed files, read from the sandbox's mount namespace while the runner waits; then releases it. */
export async function collectStrictRun(
  ctx: SandboxContext,
  run: Launched,
  manifest: Manifest,
  hits: Set<LimitHit>,
): Promise<CollectResult | null> {
  const { limits, warn } = ctx;
  let collected: CollectResult | null = null;
  if (run.runner.exitCode !== null) {
    const got = await collectFromSandbox(
      run.nsInitPid,
      await run.sandboxMountNs,
      manifest,
      collectOptions(limits),
    ).catch(() => null);
    if (got) {
      collected = got.collected;
      if (got.full) hits.add('workdir_size');
    } else warn('sandbox: could not read the work dir of a strict run');
  }
  run.runnerFd?.end(); // releases the runner, which exits with the command's status
  return collected;
}

/** The run's result: its exit, output, changed files and every limit it hit. */
export async function results(
  ctx: SandboxContext,
  r: {
    run: Launched;
    exit: Exit;
    durationMs: number;
    timedOut: boolean;
    hits: Set<LimitHit>;
    cg: CgroupRun | null;
    dir: string;
    manifest: Manifest;
    slot: Slot;
    strictCollected: CollectResult | null;
  },
): Promise<RunResult> {
  const { level, limits } = ctx;
  const { run, hits, timedOut } = r;
  const { stdout, stderr } = run;
  let exit = r.exit;
  if (
    level === 'strict' &&
    exit.signal === null &&
    exit.code !== null &&
    exit.code > 128 &&
    exit.code < 160
  ) {
    // bwrap (like a shell) reports a command killed by signal N as exit status 128+N.
    const name = SIGNAL_NAMES.get(exit.code - 128);
    if (name) exit = { code: null, signal: name as NodeJS.Signals };
  }

  if (timedOut) hits.add('timeout');
  if (stdout.truncated || stderr.truncated) hits.add('output');
  if (exit.signal === 'SIGXCPU') hits.add('cpu');
  if (exit.signal === 'SIGXFSZ') hits.add('file_size');
  for (const m of stderr.seen) hits.add(m as LimitHit);
  if (r.cg) for (const h of await r.cg.hits().catch(() => [])) hits.add(h);

  if (run.runner.noSpace) {
    throw new PayloadTooLargeError('payload_too_large', `Skill and input files do not fit the work dir`, {
      limit: limits.maxWorkdirBytes,
    });
  }
  let usedOutside = 0;
  if (level === 'whitelist' && r.slot.dedicatedUid && r.slot.uid !== null) {
    // Files the run left in /tmp, /var/tmp, /dev/shm: counted against the work dir limit, then removed.
    const left = await sweepSharedTemp(r.slot.uid);
    if (left.bytes > 0) usedOutside = left.bytes;
  }
  const collected =
    level === 'strict'
      ? (r.strictCollected ?? { changedFiles: [], totalBytes: 0, truncated: false })
      : await collectChanges(r.dir, r.manifest, collectOptions(limits));
  if (collected.truncated) hits.add('changed_files');
  if (collected.totalBytes + usedOutside > limits.maxWorkdirBytes) hits.add('workdir_size');
  if (collected.changedFiles.some((f) => f.size >= limits.maxFileBytes)) hits.add('file_size');

  return {
    exitCode: exit.signal ? null : exit.code,
    signal: exit.signal ?? null,
    timedOut,
    stdout: stdout.text(),
    stderr: stderr.text(),
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    durationMs: r.durationMs,
    limitsHit: LIMIT_ORDER.filter((h) => hits.has(h)),
    changedFiles: collected.changedFiles,
  };
}

const collectOptions = (limits: SandboxLimits) => ({
  maxReturnedFileBytes: limits.maxReturnedFileBytes,
  maxReturnedTotalBytes: limits.maxReturnedTotalBytes,
});
