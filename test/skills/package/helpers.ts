import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { AppError } from '../../../src/shared/errors.js';

export interface TempDir {
  dir: string;
  file(name: string, data: Buffer): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeTempDir(prefix = 'skillport-pkg-'): Promise<TempDir> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  let n = 0;
  return {
    dir,
    async file(name, data) {
      const p = path.join(dir, `${n++}-${name}`);
      await writeFile(p, data);
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export { yazlZip, type YazlEntry } from '../../helpers/zips.js';

/** Await a rejection and check it is the expected AppError; returns it for further checks. */
export async function expectAppError(
  promise: Promise<unknown>,
  status: number,
  code: string,
  entry?: string,
): Promise<AppError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(AppError);
  const err = caught as AppError;
  expect({ status: err.status, code: err.code }).toEqual({ status, code });
  if (entry !== undefined) {
    expect(err.message).toContain(JSON.stringify(entry));
    expect((err.details as { entry?: unknown } | undefined)?.entry).toBe(entry);
  }
  return err;
}

export function expectSyncAppError(fn: () => unknown, status: number, code: string): AppError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(AppError);
  const err = caught as AppError;
  expect({ status: err.status, code: err.code }).toEqual({ status, code });
  return err;
}
