import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import yazl from 'yazl';
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

export interface YazlEntry {
  path: string;
  data?: Buffer | string;
  mode?: number;
  dir?: boolean;
  compress?: boolean;
}

/** Build a zip with yazl (the ordinary, well-formed cases). */
export async function yazlZip(entries: readonly YazlEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.dir) zip.addEmptyDirectory(e.path);
    else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
      zip.addBuffer(data, e.path, { mode: e.mode ?? 0o100644, compress: e.compress ?? true });
    }
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

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
