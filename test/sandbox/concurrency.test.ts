import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/errors.js';
import type { RunResult } from '../../src/sandbox/index.js';
import { TEST_UIDS, liveProcessesOf, makeSandbox, type TestSandbox } from './helpers.js';

const UID = TEST_UIDS.concurrency;
let sb: TestSandbox | null = null;
afterEach(async () => {
  await sb?.dispose();
  sb = null;
});

/** A run that lasts until the sandbox is closed (its timeout is far away). */
function longRun(t: TestSandbox, userId: string) {
  const state: { settled: boolean; result?: RunResult } = { settled: false };
  const promise = t.sandbox.run({ userId, files: [], command: 'sleep 60', timeoutMs: 60_000 }).then((r) => {
    state.settled = true;
    state.result = r;
    return r;
  });
  return { promise, state };
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

describe('concurrency limits', () => {
  it('refuses at once with 429 sandbox_busy over the per-user and the global limit, without queueing', async () => {
    sb = await makeSandbox('strict', UID, {
      perUserConcurrency: 2,
      globalConcurrency: 3,
      limits: { timeoutMs: 60_000 },
    });
    const a1 = longRun(sb, 'alice');
    const a2 = longRun(sb, 'alice');

    const t0 = Date.now();
    const e1 = await rejection(sb.sandbox.run({ userId: 'alice', files: [], command: 'true' }));
    expect(Date.now() - t0).toBeLessThan(100);
    expect(e1).toBeInstanceOf(AppError);
    expect(e1).toMatchObject({
      status: 429,
      code: 'sandbox_busy',
      details: { perUserLimit: 2, globalLimit: 3 },
    });
    expect(e1.message).toBe('Too many scripts running for this user (limit 2); try again later');

    // Another user still gets the last global slot…
    const b1 = longRun(sb, 'bob');
    // …and then everybody is refused.
    const e2 = await rejection(sb.sandbox.run({ userId: 'carol', files: [], command: 'true' }));
    expect(e2).toMatchObject({ status: 429, code: 'sandbox_busy' });
    expect(e2.message).toBe('Too many scripts running on this server (limit 3); try again later');

    // The refusals did not wait for the running commands.
    expect([a1.state.settled, a2.state.settled, b1.state.settled]).toEqual([false, false, false]);

    // Wait (by polling the process table, not by sleeping a fixed time) until the three commands really run…
    for (let i = 0; i < 500; i++) {
      const sleeping = (await liveProcessesOf(UID)).filter((p) => p.cmd === 'sleep 60');
      if (sleeping.length === 3) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await liveProcessesOf(UID)).filter((p) => p.cmd === 'sleep 60')).toHaveLength(3);
    // …then close() kills them; they resolve with SIGKILL and nothing is left.
    await sb.sandbox.close();
    const results = await Promise.all([a1.promise, a2.promise, b1.promise]);
    for (const r of results) expect(r).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: false });
    expect(await liveProcessesOf(UID)).toEqual([]);
    const e3 = await rejection(sb.sandbox.run({ userId: 'dave', files: [], command: 'true' }));
    expect(e3).toMatchObject({ status: 503, code: 'sandbox_closed' });
  });

  it('releases slots when runs finish (also failed and refused ones)', async () => {
    sb = await makeSandbox('strict', UID, { perUserConcurrency: 1, globalConcurrency: 1 });
    expect((await sb.run('exit 3')).exitCode).toBe(3);
    await expect(sb.run('')).rejects.toMatchObject({ status: 400, code: 'command_refused' });
    await expect(
      sb.run('true', [{ path: '../x', data: Buffer.from(''), executable: false }]),
    ).rejects.toMatchObject({
      status: 400,
      code: 'invalid_path',
    });
    const rs = [];
    for (let i = 0; i < 3; i++) rs.push((await sb.run(`echo ${i}`)).stdout);
    expect(rs).toEqual(['0\n', '1\n', '2\n']);
  });

  it('runs up to the global limit in parallel for different users', async () => {
    sb = await makeSandbox('strict', UID, { perUserConcurrency: 1, globalConcurrency: 4 });
    const results = await Promise.all(
      ['u1', 'u2', 'u3', 'u4'].map((u) =>
        sb!.sandbox.run({ userId: u, files: [], command: `echo ${u} > who.txt; cat who.txt` }),
      ),
    );
    expect(results.map((r) => r.stdout)).toEqual(['u1\n', 'u2\n', 'u3\n', 'u4\n']);
    expect(results.map((r) => r.changedFiles.map((f) => f.data?.toString()))).toEqual([
      ['u1\n'],
      ['u2\n'],
      ['u3\n'],
      ['u4\n'],
    ]);
  });
});
