import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { backupTime } from './backup.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes the backups in `dir` taken more than `keepDays` days before `now` (by the time in their name, which a
 * copy keeps, unlike mtime), and left-over `.partial` files of that age. Files that are not named like backups are
 * never touched, nor are the ones listed in `keep`. Returns the names deleted.
 */
export async function pruneBackups(
  dir: string,
  keepDays: number,
  now: Date = new Date(),
  keep: string[] = [],
): Promise<string[]> {
  const cutoff = now.getTime() - keepDays * DAY_MS;
  const deleted: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const at = backupTime(name);
    if (!at || at.getTime() >= cutoff || keep.includes(name)) continue;
    await rm(path.join(dir, name), { force: true });
    deleted.push(name);
  }
  return deleted;
}
