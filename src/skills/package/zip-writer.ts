/**
 * Writing a skill version as a zip: one top-level folder (the `.skill` layout) holding the files, with
 * unix modes 0o755 for executables and 0o644 otherwise. Output is deterministic for the same input.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { byPath } from './archive.js';

export interface ZipInputFile {
  path: string;
  data: Buffer | Uint8Array;
  executable: boolean;
}

export interface ZipWriteOptions {
  /** Modification time written for every entry (default 2000-01-01 00:00 local time, for stable output). */
  mtime?: Date;
}

const DEFAULT_MTIME = new Date(2000, 0, 1, 0, 0, 0);
const FILE_MODE = 0o100644;
const EXEC_MODE = 0o100755;

// eslint-disable-next-line no-control-regex
const UNSAFE_SEGMENT = /[\u0000-\u001f\u007f\\]/;

function checkSegments(value: string, what: string, single: boolean): void {
  const segments = value.split('/');
  const bad =
    value === '' ||
    (single && segments.length !== 1) ||
    segments.some((s) => s === '' || s === '.' || s === '..' || UNSAFE_SEGMENT.test(s)) ||
    /^[A-Za-z]:/.test(value);
  if (bad) throw new Error(`Cannot write zip: unsafe ${what} ${JSON.stringify(value)}`);
}

/**
 * A readable stream of a zip holding `files` under `folderName/` (or at the root when `folderName` is null).
 * Throws synchronously on unsafe paths or duplicate paths (a programming error, not user input).
 */
export function createSkillZipStream(
  folderName: string | null,
  files: readonly ZipInputFile[],
  options: ZipWriteOptions = {},
): Readable {
  if (folderName !== null) checkSegments(folderName, 'folder name', true);
  const seen = new Set<string>();
  for (const f of files) {
    checkSegments(f.path, 'file path', false);
    if (seen.has(f.path)) throw new Error(`Cannot write zip: duplicate file path ${JSON.stringify(f.path)}`);
    seen.add(f.path);
  }
  const mtime = options.mtime ?? DEFAULT_MTIME;
  const zip = new yazl.ZipFile();
  for (const f of [...files].sort(byPath)) {
    const data = Buffer.isBuffer(f.data)
      ? f.data
      : Buffer.from(f.data.buffer, f.data.byteOffset, f.data.length);
    zip.addBuffer(data, folderName === null ? f.path : `${folderName}/${f.path}`, {
      mode: f.executable ? EXEC_MODE : FILE_MODE,
      mtime,
      compress: true,
    });
  }
  zip.end();
  const out = new PassThrough();
  zip.outputStream.pipe(out);
  return out;
}

/** Write the zip to `out` and resolve once it has been fully written (and `out` ended). */
export async function writeSkillZip(
  folderName: string | null,
  files: readonly ZipInputFile[],
  out: NodeJS.WritableStream,
  options: ZipWriteOptions = {},
): Promise<void> {
  await pipeline(createSkillZipStream(folderName, files, options), out);
}

/** The whole zip in memory (small skills, tests). */
export async function skillZipBuffer(
  folderName: string | null,
  files: readonly ZipInputFile[],
  options: ZipWriteOptions = {},
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createSkillZipStream(folderName, files, options) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
