import { zipSync } from 'fflate';
import type { Zippable } from 'fflate';

/** What the user picked for upload, normalised to one zip blob. */
export interface PreparedUpload {
  /** What to call it in the UI: the file name or the folder name. */
  label: string;
  kind: 'archive' | 'folder' | 'files';
  blob: Blob;
  /** Number of files inside, when we built the zip ourselves. */
  fileCount: number | null;
  skipped: string[];
}

export interface PickedFile {
  /** Path relative to the drop/selection root, using `/`. */
  path: string;
  file: File;
}

const JUNK = /(^|\/)(\.DS_Store|Thumbs\.db|desktop\.ini|__MACOSX(\/.*)?|\.git(\/.*)?)$/;
const STORED = /\.(png|jpe?g|gif|webp|zip|gz|tgz|bz2|xz|7z|mp[34]|woff2?|pdf)$/i;

export function isArchive(file: File): boolean {
  return (
    /\.(zip|skill)$/i.test(file.name) ||
    file.type === 'application/zip' ||
    file.type === 'application/x-zip-compressed'
  );
}

/** Zips files in memory, keeping their relative paths. */
export async function zipFiles(
  files: PickedFile[],
): Promise<{ blob: Blob; count: number; skipped: string[] }> {
  const tree: Zippable = {};
  const skipped: string[] = [];
  let count = 0;
  for (const { path, file } of files) {
    const clean = path.replace(/\\/g, '/').replace(/^\/+/, '');
    if (!clean || JUNK.test(clean) || JUNK.test(clean.split('/').slice(0, -1).join('/'))) {
      skipped.push(clean || file.name);
      continue;
    }
    const data = new Uint8Array(await file.arrayBuffer());
    tree[clean] = [data, { level: STORED.test(clean) ? 0 : 6, mtime: file.lastModified || Date.now() }];
    count++;
  }
  if (count === 0) throw new Error('There are no files to upload in that selection.');
  const bytes = zipSync(tree);
  return { blob: new Blob([bytes], { type: 'application/zip' }), count, skipped };
}

/** Normalises a plain file selection (file picker / dropped files). */
export async function prepareFiles(files: PickedFile[], folderName?: string): Promise<PreparedUpload> {
  if (files.length === 0) throw new Error('Nothing was selected.');
  const only = files[0];
  if (files.length === 1 && only && isArchive(only.file) && !only.path.includes('/')) {
    return { label: only.file.name, kind: 'archive', blob: only.file, fileCount: null, skipped: [] };
  }
  if (files.length > 1 && files.some((f) => isArchive(f.file) && !f.path.includes('/')) && !folderName) {
    throw new Error('Choose one zip or .skill file at a time, or a whole folder.');
  }
  const { blob, count, skipped } = await zipFiles(files);
  const top = folderName ?? files[0]?.path.split('/')[0] ?? 'files';
  return {
    label: folderName ? `${top}/` : plural(count),
    kind: folderName ? 'folder' : 'files',
    blob,
    fileCount: count,
    skipped,
  };
}

function plural(n: number) {
  return `${n} file${n === 1 ? '' : 's'}`;
}

/** Files from `<input type="file" webkitdirectory>`: paths come from webkitRelativePath ("folder/a/b.txt"). */
export async function prepareFolderInput(list: File[]): Promise<PreparedUpload> {
  const files = list.map((file) => ({ path: file.webkitRelativePath || file.name, file }));
  const folder = files[0]?.path.split('/')[0];
  return prepareFiles(files, folder);
}

// --- drag and drop (including folders, via the File and Directory Entries API)

function readAllEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next(); // readEntries returns at most ~100 entries per call
        }
      }, reject);
    next();
  });
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    out.push({
      path: entry.fullPath.replace(/^\/+/, ''),
      file: await entryFile(entry as FileSystemFileEntry),
    });
  } else if (entry.isDirectory) {
    const children = await readAllEntries((entry as FileSystemDirectoryEntry).createReader());
    for (const child of children) await walk(child, out);
  }
}

export async function prepareDrop(dt: DataTransfer): Promise<PreparedUpload> {
  const entries = Array.from(dt.items)
    .filter((i) => i.kind === 'file')
    .map((i) => i.webkitGetAsEntry?.() ?? null);
  if (entries.length > 0 && entries.every((e) => e !== null)) {
    const dirs = entries.filter((e) => e!.isDirectory);
    if (dirs.length > 1) throw new Error('Drop one skill folder at a time.');
    const files: PickedFile[] = [];
    for (const e of entries) await walk(e!, files);
    if (dirs.length === 1 && entries.length === 1) return prepareFiles(files, dirs[0]!.name);
    if (dirs.length === 1) throw new Error('Drop either one folder or loose files, not both.');
    return prepareFiles(files);
  }
  return prepareFiles(Array.from(dt.files).map((file) => ({ path: file.name, file })));
}
