import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, open, readdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import { sha256Hex } from '../shared/crypto.js';
import { type AppError, InvalidInputError } from '../shared/errors.js';
import { normalizeRelativePath } from './paths.js';
import type { ChangedFile, RunFile } from './types.js';

/** TMPDIR of a run, inside its work dir; never reported as a change. */
export const TMP_DIR_NAME = '.tmp';
/** At most this many directory entries are examined after a run. */
export const MAX_SCANNED_ENTRIES = 10_000;

/**
 * Creates (0711) or checks the parent of all work dirs. A shared or world-writable dir (like /tmp itself) is
 * refused: run dirs are listed by nobody but us, entered only by their own uid.
 */
export async function ensureWorkRoot(workRoot: string): Promise<string> {
  const abs = path.resolve(workRoot);
  await mkdir(abs, { recursive: true, mode: 0o711 });
  const st = await lstat(abs);
  if (!st.isDirectory()) throw new Error(`sandbox workRoot ${abs} is not a directory`);
  if (st.mode & 0o002 || st.mode & 0o1000) {
    throw new Error(`sandbox workRoot ${abs} is world-writable/sticky; use a dedicated directory`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new Error(`sandbox workRoot ${abs} is not owned by the server user`);
  if ((st.mode & 0o777) !== 0o711) await chmod(abs, 0o711);
  const real = await realpath(abs);
  // The unprivileged uid (and bubblewrap, which runs as it) must be able to reach its run dir by path.
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const parent = await lstat(dir);
    if (!(parent.mode & 0o001)) {
      throw new Error(
        `sandbox workRoot ${real}: ancestor ${dir} is not traversable by other users (needs o+x)`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
  return real;
}

export interface Manifest {
  /** Every regular file written, by normalised relative path. */
  files: Map<string, { size: number; sha256: string }>;
  totalBytes: number;
}

export interface PrepareOptions {
  uid: number | null;
  gid: number | null;
  /** Create TMP_DIR_NAME (TMPDIR) in it; a strict run's runner creates its own inside the sandbox instead. */
  tmpDir: boolean;
}

/**
 * A fresh private dir (0700, owned by the run uid) with the skill files (with their executable bit) and the input
 * files. Nothing pre-exists in it, and every file is created with O_EXCL|O_NOFOLLOW, so no symlink can redirect a
 * write. Paths were validated by `normalizeRelativePath`.
 */
export async function prepareWorkdir(
  workRoot: string,
  files: ReadonlyArray<{ path: string; data: Buffer; mode: number }>,
  opts: PrepareOptions,
): Promise<{ dir: string; manifest: Manifest }> {
  const dir = await mkdtemp(path.join(workRoot, 'run-'));
  const manifest: Manifest = { files: new Map(), totalBytes: 0 };
  const chown = async (p: string) => {
    if (opts.uid !== null && opts.gid !== null) await lchown(p, opts.uid, opts.gid);
  };
  try {
    await chmod(dir, 0o700);
    const madeDirs = new Set<string>();
    for (const f of files) {
      const segments = f.path.split('/');
      let rel = '';
      for (const seg of segments.slice(0, -1)) {
        rel = rel ? `${rel}/${seg}` : seg;
        if (madeDirs.has(rel)) continue;
        if (manifest.files.has(rel)) throw conflict(f.path);
        await mkdir(path.join(dir, rel), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' || err.code === 'ENOTDIR' ? conflict(f.path) : err;
        });
        await chmod(path.join(dir, rel), 0o755);
        await chown(path.join(dir, rel));
        madeDirs.add(rel);
      }
      if (madeDirs.has(f.path) || manifest.files.has(f.path)) throw conflict(f.path);
      const target = path.join(dir, f.path);
      const fh = await open(
        target,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        f.mode,
      ).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST' || err.code === 'ENOTDIR' ? conflict(f.path) : err;
      });
      try {
        await fh.writeFile(f.data);
        await fh.chmod(f.mode);
        if (opts.uid !== null && opts.gid !== null) await fh.chown(opts.uid, opts.gid);
      } finally {
        await fh.close();
      }
      manifest.files.set(f.path, { size: f.data.length, sha256: sha256Hex(f.data) });
      manifest.totalBytes += f.data.length;
    }
    if (opts.tmpDir) {
      const tmp = path.join(dir, TMP_DIR_NAME);
      await mkdir(tmp, { mode: 0o700 });
      await chown(tmp);
    }
    await chown(dir);
    return { dir, manifest };
  } catch (err) {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

function conflict(p: string): AppError {
  return new InvalidInputError('invalid_path', `Duplicate or conflicting file path ${JSON.stringify(p)}`, {
    path: p,
    problem: 'conflict',
  });
}

/** Validates and merges skill files and input files into one list of files to write. */
export function planFiles(
  files: readonly RunFile[],
  inputFiles: ReadonlyArray<{ path: string; data: Buffer }>,
): Array<{ path: string; data: Buffer; mode: number }> {
  const out: Array<{ path: string; data: Buffer; mode: number }> = [];
  const add = (raw: string, data: unknown, mode: number, what: string) => {
    const p = normalizeRelativePath(raw, what);
    if (p === TMP_DIR_NAME || p.startsWith(`${TMP_DIR_NAME}/`)) {
      throw new InvalidInputError(
        'invalid_path',
        `Invalid ${what} ${JSON.stringify(raw)}: ${TMP_DIR_NAME} is reserved`,
        {
          path: raw,
          problem: 'reserved',
        },
      );
    }
    if (!Buffer.isBuffer(data))
      throw new InvalidInputError('bad_request', `File ${JSON.stringify(raw)} has no data`);
    out.push({ path: p, data, mode });
  };
  for (const f of files) add(f.path, f.data, f.executable ? 0o755 : 0o644, 'skill file path');
  for (const f of inputFiles) add(f.path, f.data, 0o644, 'input file path');
  return out;
}

export interface CollectOptions {
  maxReturnedFileBytes: number;
  maxReturnedTotalBytes: number;
  /** `dir` is used as is, not resolved with realpath (needed for /proc/<pid>/root/…). */
  rootAsIs?: boolean;
}

export interface CollectResult {
  changedFiles: ChangedFile[];
  totalBytes: number;
  /** More than MAX_SCANNED_ENTRIES entries: the listing stopped there. */
  truncated: boolean;
}

/**
 * True when every directory between `root` and the file `rel` is a real directory, not a symlink. Unlike a
 * realpath check this also works below /proc/<pid>/root (a strict run's work dir as the server sees it), where an
 * absolute symlink would resolve against the server's root, not the sandbox's.
 */
async function parentsArePlainDirs(root: string, rel: string): Promise<boolean> {
  let p = root;
  for (const seg of rel.split('/').slice(0, -1)) {
    p = path.join(p, seg);
    const st = await lstat(p).catch(() => null);
    if (!st?.isDirectory()) return false;
  }
  return true;
}

/**
 * Reads a regular file without following a symlink at any point: the final component is opened with O_NOFOLLOW
 * (and O_NONBLOCK, so a FIFO cannot block us), the opened inode must be the one lstat saw, and no dir between the
 * work dir and it may be a symlink. The server may be root: this is what keeps `ln -s /etc/shadow out.txt` from being
 * returned as a "changed file".
 */
async function readRegularFile(
  root: string,
  rel: string,
  expect: { dev: number; ino: number },
  max: number,
): Promise<Buffer | null> {
  const abs = path.join(root, rel);
  if (!(await parentsArePlainDirs(root, rel))) return null;
  let fh;
  try {
    fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.dev !== expect.dev || st.ino !== expect.ino) return null;
    if (st.size > max) return null;
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await fh.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

/** Files created or changed compared to the manifest (size, then sha256), smallest ones with their data. */
export async function collectChanges(
  dir: string,
  manifest: Manifest,
  opts: CollectOptions,
): Promise<CollectResult> {
  const root = opts.rootAsIs ? dir : await realpath(dir);
  const found: Array<{ rel: string; size: number; dev: number; ino: number }> = [];
  let entries = 0;
  let totalBytes = 0;
  let truncated = false;
  const walk = async (rel: string): Promise<void> => {
    if (truncated) return;
    let list;
    try {
      list = await readdir(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of list) {
      if (++entries > MAX_SCANNED_ENTRIES) {
        truncated = true;
        return;
      }
      const childRel = rel ? `${rel}/${ent.name}` : ent.name;
      if (!rel && ent.name === TMP_DIR_NAME) continue;
      const st = await lstat(path.join(root, childRel)).catch(() => null);
      if (!st) continue;
      if (st.isDirectory()) await walk(childRel);
      else if (st.isFile()) {
        totalBytes += st.size;
        found.push({ rel: childRel, size: st.size, dev: st.dev, ino: st.ino });
      }
      // Symlinks, FIFOs, sockets, devices: never followed, never read, not reported.
    }
  };
  await walk('');

  const changed: ChangedFile[] = [];
  let inlineTotal = 0;
  for (const f of found) {
    const before = manifest.files.get(f.rel);
    const small = f.size <= opts.maxReturnedFileBytes && inlineTotal + f.size <= opts.maxReturnedTotalBytes;
    if (before && before.size === f.size) {
      const data = await readRegularFile(root, f.rel, f, Number.MAX_SAFE_INTEGER);
      if (!data || sha256Hex(data) === before.sha256) continue;
      changed.push(small ? { path: f.rel, size: f.size, data } : { path: f.rel, size: f.size });
      if (small) inlineTotal += f.size;
      continue;
    }
    if (small) {
      const data = await readRegularFile(root, f.rel, f, opts.maxReturnedFileBytes);
      if (data) {
        inlineTotal += data.length;
        changed.push({ path: f.rel, size: data.length, data });
        continue;
      }
    }
    changed.push({ path: f.rel, size: f.size });
  }
  return { changedFiles: changed, totalBytes, truncated };
}

/**
 * Bytes and entries below `dir` (lstat, symlinks not followed), stopping early once either cap is passed. Used by the
 * watchdog during a run.
 */
export async function measureDir(
  dir: string,
  caps: { bytes: number; entries: number },
): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  const walk = async (p: string): Promise<void> => {
    let list;
    try {
      list = await readdir(p, { withFileTypes: true });
    } catch {
      return;
    }
    for (const ent of list) {
      if (bytes > caps.bytes || entries > caps.entries) return;
      entries++;
      const child = path.join(p, ent.name);
      if (ent.isDirectory()) await walk(child);
      else if (ent.isFile()) bytes += (await lstat(child).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return { bytes, entries };
}

export async function removeWorkdir(dir: string): Promise<void> {
  // fs.rm does not follow symlinks; all processes of the run are dead by now.
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
