import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimRunRoot, sweepStaleRunRoots } from '../../src/sandbox/index.js';
import { TEST_UIDS, liveProcessesOf, tempDir } from './helpers.js';
import { until } from '../helpers/until.js';

const UID = TEST_UIDS.runRoot;
/** In this test run's commands only: processes of the same uid left by any other run are not counted. */
const MARKER = String(process.pid);
const ours = async () => (await liveProcessesOf(UID)).filter((p) => p.cmd.includes(MARKER));
const sleeping = async () => (await ours()).filter((p) => p.cmd.includes(`sleep 1000.${MARKER}`));
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** Every owner started, so that none outlives the test even when an assertion fails midway. */
const owners: ChildProcess[] = [];

/** Starts a sandbox owner process with a `sleep` run going; resolves once the run's process is up. */
async function startOwner(
  parent: string,
  level: 'strict' | 'whitelist',
): Promise<{ child: ChildProcess; root: string }> {
  const before = (await sleeping()).length;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(import.meta.dirname, 'fixtures', 'run-owner.ts'),
      parent,
      level,
      String(UID),
      MARKER,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  owners.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const root = await until('the owner to print its run root', async () => out.split('\n')[0] || null);
  await until('the run to start', async () => (await sleeping()).length > before);
  return { child, root };
}

async function killHard(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

describe('run dirs after a sandbox owner is killed with SIGKILL', () => {
  let base: string;
  let parent: string;
  beforeAll(async () => {
    base = await tempDir('skillport-runroot-test-');
    await chmod(base, 0o711);
    parent = path.join(base, 'runs');
  });
  afterAll(async () => {
    for (const owner of owners)
      if (owner.exitCode === null && owner.signalCode === null) await killHard(owner);
    await rm(base, { recursive: true, force: true });
  });

  it.each(['strict', 'whitelist'] as const)(
    '%s: the next start removes the dead owner’s run dirs and processes, never a live owner’s',
    async (level) => {
      const dead = await startOwner(parent, level);
      const live = await startOwner(parent, level);
      const runDirs = (await readdir(dead.root)).filter((n) => n.startsWith('run-'));
      expect(runDirs).toHaveLength(1);

      await killHard(dead.child);
      if (level === 'strict') {
        // The launcher dies with its owner and bwrap (--die-with-parent) with it: the run ends at once.
        await until('the strict run to die with its owner', async () => (await sleeping()).length === 1);
      } else {
        // No pid namespace: the script outlives its owner until the next start sweeps it.
        expect(await sleeping()).toHaveLength(2);
      }
      expect(await exists(path.join(dead.root, runDirs[0]!))).toBe(true); // left behind

      // "Start again": a new owner claims its root below the same parent.
      const again = await claimRunRoot(parent);
      expect(again.swept).toBe(1);
      expect(await exists(dead.root)).toBe(false);
      expect(await exists(live.root)).toBe(true); // alive: untouched, its run still going
      expect(await sleeping()).toHaveLength(1);

      await killHard(live.child);
      // Only `live` is stale now: `again` belongs to this (live) test process.
      expect(await sweepStaleRunRoots(parent)).toBe(1);
      expect(await exists(live.root)).toBe(false);
      expect(await exists(again.workRoot)).toBe(true);
      await until('every process of the runs to be gone', async () => (await ours()).length === 0);
      await rm(again.workRoot, { recursive: true });
    },
  );
});
