/**
 * The spawn helper (src/sandbox/spawner.ts): runs are forked by a small long-lived process, never by the server.
 * Its relay must be faithful (output, exit, writes), bounded (output past the forward limit is drained, not sent),
 * and it must never outlive its parent nor take a run's processes with it into limbo.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpawnHelper } from '../../src/sandbox/spawner.js';
import { AppError } from '../../src/shared/errors.js';
import { TEST_UIDS, isRunning, liveProcessesOf, makeSandbox, type TestSandbox } from './helpers.js';
import { until } from '../helpers/until.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const UID = TEST_UIDS.spawner;

/** Pids of this process' children that are spawn helpers. */
async function helpersOf(ppid: number): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'latin1').catch(() => '');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== ppid) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes("const { spawn } = require('node:child_process')")) found.push(Number(name));
  }
  return found;
}

describe('spawn helper', () => {
  it('relays output, writes and the exit; output past the forward limit is drained and dropped', async () => {
    const helper = await SpawnHelper.start();
    try {
      const child = await helper.spawn({
        file: '/bin/sh',
        args: ['-c', 'head -c 300000 /dev/zero; read -r line <&3; echo "got $line" >&2; exit 7'],
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        forwardLimits: { 1: 1000 },
      });
      expect(child.pid).toBeGreaterThan(1);
      let stdout = 0;
      let stderr = '';
      child.stdio[1]!.on('data', (d: Buffer) => (stdout += d.length));
      child.stdio[2]!.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise((r) => child.stdio[2]!.once('close', r));
      child.stdio[3]!.on('data', () => undefined);
      child.stdio[3]!.end('hello\n');
      expect(await child.exited).toEqual({ code: 7, signal: null });
      await closed;
      expect(stderr).toBe('got hello\n');
      // At least the limit, at most one pipe read past it: the rest never crossed the channel.
      expect(stdout).toBeGreaterThanOrEqual(1000);
      expect(stdout).toBeLessThan(1000 + 65_537);
    } finally {
      await helper.close();
    }
    expect(helper.alive).toBe(false);
  });

  it('reports a program that cannot start as an error, not a hang', async () => {
    const helper = await SpawnHelper.start();
    try {
      const child = await helper.spawn({
        file: '/nonexistent/program',
        args: [],
        cwd: '/',
        env: {},
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdio[1]!.resume();
      child.stdio[2]!.resume();
      const exit = await child.exited;
      expect(exit.error?.message).toMatch(/ENOENT/);
    } finally {
      await helper.close();
    }
  });

  it('ends with its parent, even one killed by SIGKILL, and kills the process groups it started', async () => {
    const script = `
      import { SpawnHelper } from ${JSON.stringify(path.join(ROOT, 'src/sandbox/spawner.ts'))};
      const helper = await SpawnHelper.start();
      const child = await helper.spawn({ file: '/bin/sleep', args: ['1000'], cwd: '/', env: {}, stdio: ['ignore', 'ignore', 'ignore'] });
      console.log(JSON.stringify({ helper: helper.pid, sleep: child.pid }));
    `;
    const parent = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pids = await new Promise<{ helper: number; sleep: number }>((resolve, reject) => {
      let out = '';
      parent.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      parent.once('exit', (code) => reject(new Error(`parent exited ${code}: ${out}`)));
    });
    expect(await isRunning(pids.helper)).toBe(true);
    expect(await isRunning(pids.sleep)).toBe(true);
    parent.kill('SIGKILL');
    await until('the helper to exit', async () => !(await isRunning(pids.helper)), 5000);
    await until('its child to be killed', async () => !(await isRunning(pids.sleep)), 5000);
  });
});

describe('a sandbox whose spawn helper dies', () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await makeSandbox('strict', UID);
  });
  afterAll(async () => {
    await sb.dispose();
    expect(await helpersOf(process.pid)).toEqual([]);
  });

  it('fails the run in flight (nothing of it survives) and starts a new helper for the next run', async () => {
    expect((await sb.run('python3 -c "print(1)"')).stdout).toBe('1\n');
    const [helper] = await helpersOf(process.pid);
    expect(helper).toBeGreaterThan(1);
    const running = sb.run('sleep 30');
    await until('sleep', async () => (await liveProcessesOf(UID)).some((p) => p.cmd === 'sleep 30'), 10_000);
    process.kill(helper!, 'SIGKILL');
    const err = await running.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('sandbox_unavailable');
    await until('the run to be gone', async () => (await liveProcessesOf(UID)).length === 0, 5000);
    expect((await sb.run('python3 -c "print(2)"')).stdout).toBe('2\n');
    const now = await helpersOf(process.pid);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(helper);
  });
});

describe('the spare launcher', () => {
  /** Launchers (perl, children of a spawn helper of this process) waiting for a run. */
  async function spareLaunchers(): Promise<number[]> {
    const helpers = await helpersOf(process.pid);
    const found: number[] = [];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const stat = await readFile(`/proc/${name}/stat`, 'latin1').catch(() => '');
      if (!helpers.includes(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))) continue;
      const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
      if (cmd.startsWith('/usr/bin/perl\0-e\0delete $ENV{PERL_SKIP_LOCALE_INIT}')) found.push(Number(name));
    }
    return found;
  }

  it('is started ahead of the next run, which it then runs; close() ends the one left', async () => {
    const sb = await makeSandbox('strict', UID);
    let spare: number | undefined;
    try {
      expect((await sb.run('python3 -c "print(1)"')).stdout).toBe('1\n');
      [spare] = await until('a spare launcher', async () => {
        const found = await spareLaunchers();
        return found.length === 1 ? found : null;
      });
      // The next run is launched by it: a spare nobody took would still be waiting...
      expect((await sb.run('true')).exitCode).toBe(0);
      expect(await isRunning(spare!)).toBe(false);
      // ...and a new one waits for the run after.
      await until('the next spare launcher', async () => (await spareLaunchers()).length === 1);
    } finally {
      await sb.dispose();
    }
    expect(await spareLaunchers()).toEqual([]);
  });
});
