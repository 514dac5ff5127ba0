import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { measureDir } from './workdir.js';

/**
 * Whitelist runs have no mount namespace: TMPDIR points into the work dir, but a script can still write to the
 * host's shared temp dirs. With a uid of its own (the uid pool), everything it put there is recognisable by owner:
 * measured against the work dir limit during the run and removed after it.
 */
export const SHARED_TEMP_DIRS: readonly string[] = ['/tmp', '/var/tmp', '/dev/shm'];

/** How deep we look into world-writable dirs of others (e.g. /tmp/.X11-unix) for entries of the uid. */
const MAX_DEPTH = 2;

/** Entries owned by `uid` at the top of the shared temp dirs or inside world-writable dirs of others. */
async function ownedEntries(uid: number, dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const p = path.join(dir, name);
      const st = await lstat(p).catch(() => null);
      if (!st) continue;
      if (st.uid === uid) out.push(p);
      else if (st.isDirectory() && st.mode & 0o002 && depth < MAX_DEPTH) await walk(p, depth + 1);
    }
  };
  for (const d of dirs) await walk(d, 1);
  return out;
}

async function measureEntries(
  entries: string[],
  caps: { bytes: number; entries: number },
): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let count = 0;
  for (const p of entries) {
    const st = await lstat(p).catch(() => null);
    if (!st) continue;
    count++;
    if (st.isDirectory()) {
      const m = await measureDir(p, { bytes: caps.bytes - bytes, entries: caps.entries - count });
      bytes += m.bytes;
      count += m.entries;
    } else if (st.isFile()) bytes += st.size;
    if (bytes > caps.bytes || count > caps.entries) break;
  }
  return { bytes, entries: count };
}

/** Bytes and entries the uid holds in the shared temp dirs (stops early past the caps). */
export async function measureSharedTemp(
  uid: number,
  caps: { bytes: number; entries: number },
  dirs: readonly string[] = SHARED_TEMP_DIRS,
): Promise<{ bytes: number; entries: number }> {
  return measureEntries(await ownedEntries(uid, dirs), caps);
}

/**
 * Removes what the uid left in the shared temp dirs (symlinks are removed, never followed) and returns its size.
 * Call only once no process of the uid is left.
 */
export async function sweepSharedTemp(
  uid: number,
  dirs: readonly string[] = SHARED_TEMP_DIRS,
): Promise<{ bytes: number; entries: number }> {
  const entries = await ownedEntries(uid, dirs);
  const used = await measureEntries(entries, { bytes: Number.MAX_SAFE_INTEGER, entries: 1_000_000 });
  for (const p of entries)
    await rm(p, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  return used;
}
