import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, LOCK_FILE, lockDataDir } from '../../src/db/dir-lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'skillport-dirlock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lockFile = () => path.join(dir, LOCK_FILE);
const ownRecord = () => JSON.parse(readFileSync(lockFile(), 'utf8'));
const writeHolder = (holder: Record<string, unknown>) =>
  writeFileSync(lockFile(), JSON.stringify({ command: 'skillport serve', since: 'earlier', ...holder }));

describe('the data-dir lock', () => {
  it('is exclusive while held and free again once released', () => {
    const lock = lockDataDir(dir);
    expect(ownRecord()).toMatchObject({ pid: process.pid, host: hostname() });
    expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
    lock.release();
    expect(existsSync(lockFile())).toBe(false);
    lockDataDir(dir).release();
  });

  it('names the live owner: dir, pid and command', () => {
    const lock = lockDataDir(dir);
    try {
      lockDataDir(dir);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DataDirLockedError);
      expect((err as Error).message).toContain(dir);
      expect((err as Error).message).toContain(`pid ${process.pid}`);
    } finally {
      lock.release();
    }
  });

  it('takes over the record of a dead process, a reused pid, a previous boot, or an unreadable record', async () => {
    const me = (() => {
      const l = lockDataDir(dir);
      const r = ownRecord();
      l.release();
      return r;
    })();
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('exit', r));
    for (const stale of [
      { ...me, pid: dead.pid }, // gone
      { ...me, start: me.start + 1 }, // our pid, but not the process that wrote it: pid reuse
      { ...me, boot: 'another-boot' },
    ]) {
      writeHolder(stale);
      lockDataDir(dir).release();
    }
    writeFileSync(lockFile(), '{"pid":');
    lockDataDir(dir).release();
  });

  it('never takes over a lock of another host, and says how to clear it', () => {
    writeHolder({ pid: 1, start: 1, boot: 'b', host: 'elsewhere' });
    expect(() => lockDataDir(dir)).toThrow(
      /on host elsewhere.*If no Skillport runs on elsewhere any more, delete/,
    );
  });

  it('lets exactly one of many processes racing for a stale lock take it', async () => {
    writeHolder({ pid: 999_999_999, start: 1, boot: null, host: hostname() });
    // Each child reports, then holds on (keeping any lock it took) until its stdin closes.
    const script = `
      import { lockDataDir } from ${JSON.stringify(path.resolve('src/db/dir-lock.ts'))};
      try { lockDataDir(process.argv[1]); console.log('took'); }
      catch (e) { console.log(e.name); }
      process.stdin.resume();`;
    const children = Array.from({ length: 6 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir]),
    );
    const outputs = await Promise.all(
      children.map(
        (child) =>
          new Promise<string>((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim()))),
      ),
    );
    await Promise.all(children.map((c) => new Promise((r) => (c.on('close', r), c.stdin.end()))));
    expect(outputs.filter((o) => o === 'took')).toHaveLength(1);
    expect(outputs.filter((o) => o === 'DataDirLockedError')).toHaveLength(5);
  });
});
