/**
 * Reading skill packages (a zip upload or a folder on disk) into memory, defensively.
 *
 * Pure: no database, no HTTP. Everything that could be hostile in an upload is refused here with an
 * `AppError` that names the offending entry: path tricks, links and special files, duplicates, encryption,
 * zip bombs (sizes are counted while inflating, header sizes are only used for an early refusal).
 */
import { promises as fsp, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { AppError, PayloadTooLargeError, UnprocessableError } from '../../shared/errors.js';

export interface ArchiveLimits {
  /** Size of the zip file itself (the caller also enforces it while streaming the upload). */
  maxArchiveBytes: number;
  /** Sum of the inflated sizes of all files. */
  maxUnpackedBytes: number;
  /** Number of files (directory entries and skipped junk do not count). */
  maxFiles: number;
  /** Inflated size of one file. */
  maxFileBytes: number;
  /** Number of folders a file may sit in, below the skill root. */
  maxDepth: number;
  /** Length (UTF-16 code units) of an entry name as stored in the archive. */
  maxPathLength: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxArchiveBytes: 50 * MiB,
  maxUnpackedBytes: 100 * MiB,
  maxFiles: 1000,
  maxFileBytes: 20 * MiB,
  maxDepth: 12,
  maxPathLength: 512,
});

export interface SkillFile {
  /** Relative to the skill root, `/`-separated, normalised (no `.`, `..` or empty segments). */
  path: string;
  data: Buffer;
  executable: boolean;
}

export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface SkillFiles {
  /** The single top-level folder that was stripped (archive) or the folder's own name (folder); else null. */
  rootFolder: string | null;
  /** Sorted by path. */
  files: SkillFile[];
  /** Entries ignored on purpose (directory entries are not listed). */
  skipped: SkippedEntry[];
}

const SKILL_MD = 'SKILL.md';
const SKILL_MD_NOT_FOUND = 'SKILL.md not found at the archive root or in a single top-level folder';
/** Directory entries and macOS junk are not files, but a central directory of millions of them is still abuse. */
const ENTRY_COUNT_FACTOR = 4;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const ZIP_OS_UNIX = 3;
const ZIP_OS_DARWIN = 19;
const DOS_DIRECTORY_ATTR = 0x10;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Quote an entry name for a message: JSON escaping keeps control characters visible and harmless. */
const quote = (name: string): string => JSON.stringify(name);

function invalidArchive(entry: string, problem: string): AppError {
  return new UnprocessableError('invalid_archive', `Archive entry ${quote(entry)} ${problem}`, { entry });
}

function tooLarge(message: string, details?: Record<string, unknown>): AppError {
  return new PayloadTooLargeError('payload_too_large', message, details);
}

function isJunk(segments: readonly string[]): boolean {
  return segments.includes('__MACOSX') || segments[segments.length - 1] === '.DS_Store';
}

/**
 * Validate an entry name (without a trailing `/`) and return its normalised segments.
 * `kind` only changes the wording of the messages.
 */
function checkEntryName(name: string, limits: ArchiveLimits, kind: 'Archive entry' | 'File'): string[] {
  const fail = (problem: string) =>
    kind === 'Archive entry'
      ? invalidArchive(name, problem)
      : new UnprocessableError('invalid_archive', `File ${quote(name)} ${problem}`, { entry: name });
  if (CONTROL_CHARS.test(name)) throw fail('contains NUL or control characters in its name');
  if (name.includes('\\')) throw fail('contains a backslash in its name');
  if (name.startsWith('/')) throw fail('is an absolute path');
  if (/^[A-Za-z]:/.test(name)) throw fail('starts with a drive letter');
  if (name.length > limits.maxPathLength) {
    throw fail(`has a path longer than ${limits.maxPathLength} characters`);
  }
  const raw = name.split('/');
  if (raw.includes('..')) throw fail("contains a '..' path segment");
  const segments = raw.filter((s) => s !== '' && s !== '.');
  // One extra level is allowed for a top-level folder that will be stripped; checked exactly afterwards.
  if (segments.length - 1 > limits.maxDepth + 1) {
    throw fail(`is nested deeper than ${limits.maxDepth} folders`);
  }
  return segments;
}

/** Tracks files and folders seen so far to refuse duplicates and file/folder clashes. */
class PathSet {
  private readonly files = new Map<string, string>();
  private readonly dirs = new Set<string>();

  addDir(key: string, original: string): void {
    if (this.files.has(key)) throw invalidArchive(original, 'is both a file and a folder');
    this.addParents(key, original, true);
  }

  addFile(key: string, original: string): void {
    const previous = this.files.get(key);
    if (previous !== undefined) {
      const same = previous === original ? '' : ` (same path as ${quote(previous)} after normalisation)`;
      throw invalidArchive(original, `is a duplicate entry${same}`);
    }
    if (this.dirs.has(key)) throw invalidArchive(original, 'is both a file and a folder');
    this.addParents(key, original, false);
    this.files.set(key, original);
  }

  private addParents(key: string, original: string, includeSelf: boolean): void {
    const segments = key.split('/');
    const end = includeSelf ? segments.length : segments.length - 1;
    for (let i = 1; i <= end; i++) {
      const prefix = segments.slice(0, i).join('/');
      if (this.files.has(prefix))
        throw invalidArchive(original, `is inside ${quote(prefix)}, which is a file`);
      this.dirs.add(prefix);
    }
  }
}

interface CollectedFile {
  segments: string[];
  original: string;
  data: Buffer;
  executable: boolean;
}

function isSystemError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** Turn a yauzl/zlib error into an AppError; system errors (ENOENT, EIO…) are not the uploader's fault. */
function mapZipError(err: unknown, limits: ArchiveLimits, currentEntry: string | undefined): unknown {
  if (err instanceof AppError || isSystemError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const nameError =
    /^(?:invalid characters in fileName|absolute path|invalid relative path): ([\s\S]*)$/.exec(message);
  if (nameError) {
    const name = nameError[1] ?? '';
    try {
      checkEntryName(name.endsWith('/') ? name.slice(0, -1) : name, limits, 'Archive entry');
    } catch (precise) {
      return precise;
    }
    return invalidArchive(name, 'has an unsafe path');
  }
  if (/strong encryption/i.test(message)) {
    return new UnprocessableError(
      'invalid_archive',
      'Archive contains encrypted entries, which are not supported',
      {
        entry: currentEntry ?? null,
      },
    );
  }
  if (/end of central directory record signature not found/i.test(message)) {
    return new UnprocessableError(
      'invalid_archive',
      'Upload is not a zip archive, or it is truncated (no zip central directory found)',
    );
  }
  if (currentEntry !== undefined) {
    return invalidArchive(currentEntry, `could not be read: ${message}`);
  }
  return new UnprocessableError('invalid_archive', `Archive is corrupt or not a zip file: ${message}`);
}

/**
 * Read a skill zip (already on disk at `zipPath`) into memory, refusing anything unsafe.
 * Throws AppError 422 `invalid_archive` or 413 `payload_too_large`.
 */
export async function readSkillArchive(
  zipPath: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): Promise<SkillFiles> {
  const stat = await fsp.stat(zipPath);
  if (stat.size > limits.maxArchiveBytes) {
    throw tooLarge(`Archive is larger than ${limits.maxArchiveBytes} bytes`, {
      limit: limits.maxArchiveBytes,
    });
  }
  if (stat.size === 0)
    throw new UnprocessableError('invalid_archive', 'Upload is not a zip archive (empty file)');

  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(zipPath, {
      lazyEntries: true,
      validateEntrySizes: true,
      decodeStrings: true,
      // Report backslashes instead of silently turning them into '/'.
      strictFileNames: true,
      autoClose: true,
    });
  } catch (err) {
    throw mapZipError(err, limits, undefined);
  }

  let current: string | undefined;
  try {
    const maxEntries = limits.maxFiles * ENTRY_COUNT_FACTOR;
    if (zip.entryCount > maxEntries) {
      throw tooLarge(`Archive has ${zip.entryCount} entries; at most ${maxEntries} are allowed`, {
        limit: maxEntries,
      });
    }
    const seen = new PathSet();
    const collected: CollectedFile[] = [];
    const skipped: SkippedEntry[] = [];
    let totalBytes = 0;

    for await (const entry of zip.eachEntry()) {
      current = entry.fileName;
      const file = await readEntry(zip, entry, limits, seen, skipped, totalBytes, collected.length);
      if (file) {
        collected.push(file);
        totalBytes += file.data.length;
      }
      current = undefined;
    }

    return assemble(collected, skipped, limits);
  } catch (err) {
    throw mapZipError(err, limits, current);
  } finally {
    zip.close();
  }
}

async function readEntry(
  zip: ZipFile,
  entry: Entry,
  limits: ArchiveLimits,
  seen: PathSet,
  skipped: SkippedEntry[],
  totalBefore: number,
  filesBefore: number,
): Promise<CollectedFile | null> {
  const name = entry.fileName;
  const nameIsDir = name.endsWith('/');
  const segments = checkEntryName(nameIsDir ? name.slice(0, -1) : name, limits, 'Archive entry');
  const key = segments.join('/');

  if (isJunk(segments)) {
    if (!nameIsDir) skipped.push({ path: name, reason: 'macOS metadata' });
    return null;
  }
  if (entry.isEncrypted()) throw invalidArchive(name, 'is encrypted; encrypted archives are not supported');

  const os = entry.versionMadeBy >>> 8;
  const unix = os === ZIP_OS_UNIX || os === ZIP_OS_DARWIN;
  const mode = unix ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
  const type = mode & S_IFMT;
  if (type === S_IFLNK) throw invalidArchive(name, 'is a symbolic link; links are not allowed');
  const dosDir = !unix && (entry.externalFileAttributes & DOS_DIRECTORY_ATTR) !== 0;
  const isDir = nameIsDir || type === S_IFDIR || dosDir;
  if (!isDir && type !== 0 && type !== S_IFREG) {
    throw invalidArchive(
      name,
      'is a special file (hard link, device, fifo or socket); only regular files are allowed',
    );
  }

  if (isDir) {
    if (segments.length > 0) seen.addDir(key, name);
    return null;
  }
  if (segments.length === 0) throw invalidArchive(name, 'has an empty path');
  seen.addFile(key, name);

  if (filesBefore + 1 > limits.maxFiles) {
    throw tooLarge(`Archive has more than ${limits.maxFiles} files`, { limit: limits.maxFiles, entry: name });
  }
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw invalidArchive(name, `uses unsupported compression method ${entry.compressionMethod}`);
  }
  // Early refusal from the declared size; the real size is counted below while inflating.
  if (entry.uncompressedSize > limits.maxFileBytes) {
    throw fileTooLarge(name, limits);
  }
  if (totalBefore + entry.uncompressedSize > limits.maxUnpackedBytes) {
    throw unpackedTooLarge(name, limits);
  }

  const data = await inflateEntry(zip, entry, limits, totalBefore);
  return { segments, original: name, data, executable: (mode & 0o111) !== 0 };
}

function fileTooLarge(name: string, limits: ArchiveLimits): AppError {
  return tooLarge(`Archive entry ${quote(name)} is larger than ${limits.maxFileBytes} bytes once unpacked`, {
    entry: name,
    limit: limits.maxFileBytes,
  });
}

function unpackedTooLarge(name: string, limits: ArchiveLimits): AppError {
  return tooLarge(
    `Archive unpacks to more than ${limits.maxUnpackedBytes} bytes (exceeded at entry ${quote(name)})`,
    { entry: name, limit: limits.maxUnpackedBytes },
  );
}

/**
 * Inflate one entry ourselves, counting real bytes as they come: never trust the header sizes. (yauzl's own
 * size assertion is bypassed by reading the raw data, so a bomb whose header lies gets the size error it
 * earns rather than a generic mismatch.) The declared size and CRC-32 are checked at the end.
 */
async function inflateEntry(
  zip: ZipFile,
  entry: Entry,
  limits: ArchiveLimits,
  totalBefore: number,
): Promise<Buffer> {
  const name = entry.fileName;
  const raw = await zip.openReadStreamPromise(entry, { decodeFileData: false });
  let source: Readable = raw;
  if (entry.compressionMethod === 8) {
    const inflater = createInflateRaw();
    pipeline(raw, inflater, () => {
      // errors surface through the iteration below
    });
    source = inflater;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let crc = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limits.maxFileBytes) throw fileTooLarge(name, limits);
      if (totalBefore + size > limits.maxUnpackedBytes) throw unpackedTooLarge(name, limits);
      crc = crc32(chunk, crc);
      chunks.push(chunk);
    }
  } finally {
    source.destroy();
    raw.destroy();
  }
  if (size !== entry.uncompressedSize) {
    throw invalidArchive(name, 'inflates to a different size than its header declares');
  }
  if (crc >>> 0 !== entry.crc32 >>> 0) throw invalidArchive(name, 'fails its CRC-32 check (corrupt archive)');
  return Buffer.concat(chunks, size);
}

function assemble(collected: CollectedFile[], skipped: SkippedEntry[], limits: ArchiveLimits): SkillFiles {
  let rootFolder: string | null = null;
  if (!collected.some((f) => f.segments.length === 1 && f.segments[0] === SKILL_MD)) {
    const tops = new Set(collected.map((f) => f.segments[0]));
    const [top] = tops;
    const inFolder =
      tops.size === 1 &&
      top !== undefined &&
      collected.some((f) => f.segments.length === 2 && f.segments[1] === SKILL_MD);
    if (!inFolder) throw new UnprocessableError('invalid_archive', SKILL_MD_NOT_FOUND);
    rootFolder = top;
  }
  const files = collected.map((f): SkillFile => {
    const segments = rootFolder === null ? f.segments : f.segments.slice(1);
    if (segments.length - 1 > limits.maxDepth) {
      throw invalidArchive(f.original, `is nested deeper than ${limits.maxDepth} folders`);
    }
    return { path: segments.join('/'), data: f.data, executable: f.executable };
  });
  files.sort(byPath);
  return { rootFolder, files, skipped };
}

export function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------
// Folders on disk (CLI import, stdio mode)
// ---------------------------------------------------------------------------------------------------------

const SKIPPED_FOLDERS = new Map([
  ['.git', 'version-control folder'],
  ['node_modules', 'dependency folder'],
  ['__MACOSX', 'macOS metadata'],
]);

/**
 * Read a skill folder from disk with the same limits as an archive. `.git` and `node_modules` are skipped;
 * symbolic links pointing inside the folder are skipped (listed in `skipped`), links pointing outside it
 * (or dangling) are refused. `rootFolder` is the folder's own name.
 */
export async function readSkillFolder(
  dir: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): Promise<SkillFiles> {
  const given = path.resolve(dir);
  let root: string;
  try {
    root = await fsp.realpath(given);
  } catch {
    throw new UnprocessableError('invalid_archive', `Skill folder ${quote(dir)} does not exist`);
  }
  if (!(await fsp.stat(root)).isDirectory()) {
    throw new UnprocessableError('invalid_archive', `${quote(dir)} is not a folder`);
  }

  const files: SkillFile[] = [];
  const skipped: SkippedEntry[] = [];
  let totalBytes = 0;

  const fail = (rel: string, problem: string) =>
    new UnprocessableError('invalid_archive', `File ${quote(rel)} ${problem}`, { entry: rel });

  const walk = async (absDir: string, relSegments: string[]): Promise<void> => {
    const entries = await fsp.readdir(absDir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of entries) {
      const segments = [...relSegments, ent.name];
      const rel = segments.join('/');
      const abs = path.join(absDir, ent.name);
      const skipReason = SKIPPED_FOLDERS.get(ent.name);
      if (skipReason !== undefined && ent.isDirectory()) {
        skipped.push({ path: rel, reason: skipReason });
        continue;
      }
      if (ent.name === '.DS_Store') {
        skipped.push({ path: rel, reason: 'macOS metadata' });
        continue;
      }
      checkEntryName(rel, limits, 'File');
      if (ent.isSymbolicLink()) {
        const target = await fsp.realpath(abs).catch(() => null);
        const inside = target !== null && isInside(root, target);
        if (!inside) throw fail(rel, 'is a symbolic link pointing outside the skill folder');
        skipped.push({ path: rel, reason: 'symbolic link (links are not stored)' });
        continue;
      }
      if (ent.isDirectory()) {
        await walk(abs, segments);
        continue;
      }
      if (!ent.isFile()) throw fail(rel, 'is not a regular file (device, fifo or socket)');
      if (segments.length - 1 > limits.maxDepth)
        throw fail(rel, `is nested deeper than ${limits.maxDepth} folders`);
      if (files.length + 1 > limits.maxFiles) {
        throw tooLarge(`Skill folder has more than ${limits.maxFiles} files`, { limit: limits.maxFiles });
      }
      const { data, executable } = await readRegularFile(abs, rel, limits, fail);
      totalBytes += data.length;
      if (totalBytes > limits.maxUnpackedBytes) {
        throw tooLarge(
          `Skill folder holds more than ${limits.maxUnpackedBytes} bytes (exceeded at file ${quote(rel)})`,
          {
            entry: rel,
            limit: limits.maxUnpackedBytes,
          },
        );
      }
      files.push({ path: rel, data, executable });
    }
  };
  await walk(root, []);

  if (!files.some((f) => f.path === SKILL_MD)) {
    throw new UnprocessableError(
      'invalid_archive',
      `SKILL.md not found at the root of the folder ${quote(dir)}`,
    );
  }
  files.sort(byPath);
  return { rootFolder: path.basename(given), files, skipped };
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function readRegularFile(
  abs: string,
  rel: string,
  limits: ArchiveLimits,
  fail: (rel: string, problem: string) => AppError,
): Promise<{ data: Buffer; executable: boolean }> {
  // O_NOFOLLOW: the entry was a regular file when listed; refuse it if it was swapped for a link since.
  const handle = await fsp.open(abs, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw fail(rel, 'is not a regular file');
    const tooBig = () =>
      tooLarge(`File ${quote(rel)} is larger than ${limits.maxFileBytes} bytes`, {
        entry: rel,
        limit: limits.maxFileBytes,
      });
    if (st.size > limits.maxFileBytes) throw tooBig();
    const data = await handle.readFile();
    if (data.length > limits.maxFileBytes) throw tooBig();
    return { data, executable: (st.mode & 0o111) !== 0 };
  } finally {
    await handle.close();
  }
}
