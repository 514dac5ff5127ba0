import { chmod, mkdir, readdir, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConflictError } from '../shared/errors.js';
import type { Principal } from '../shared/principal.js';
import { readSkillFolder, type ArchiveLimits } from './package/index.js';
import type { SkillsService } from './service.js';

const SKIPPED_DIRS = new Set(['.git', 'node_modules']);

/** Every folder under `root` holding a SKILL.md; a skill's own sub-folders are not searched further. */
export async function findSkillFolders(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === 'SKILL.md')) {
      found.push(dir);
      return;
    }
    for (const e of entries) {
      if (e.isDirectory() && !SKIPPED_DIRS.has(e.name)) await walk(path.join(dir, e.name));
    }
  };
  await walk(root);
  return found.sort();
}

export interface ImportReport {
  folder: string;
  status: 'created' | 'updated' | 'unchanged' | 'failed';
  name?: string;
  version?: number;
  warnings?: string[];
  error?: string;
}

/** Imports every skill folder under `root` into the user's space, one result per folder; never stops early. */
export async function importSkillFolders(
  skills: SkillsService,
  principal: Principal,
  root: string,
  limits: ArchiveLimits,
): Promise<ImportReport[]> {
  const reports: ImportReport[] = [];
  for (const folder of await findSkillFolders(root)) {
    try {
      const pkg = await readSkillFolder(folder, limits);
      const r = await skills.importPackage(principal, pkg);
      reports.push({
        folder,
        status: r.status,
        name: r.name,
        version: r.result?.version.number,
        warnings: r.result?.warnings ?? [],
      });
    } catch (err) {
      reports.push({ folder, status: 'failed', error: (err as Error).message });
    }
  }
  return reports;
}

/** Writes the current version of each of the user's own skills to `<dir>/<name>/`, keeping executable bits. */
export async function exportSkills(
  skills: SkillsService,
  owner: Principal,
  dir: string,
  opts: { overwrite: boolean },
): Promise<Array<{ name: string; version: number; files: number }>> {
  const out: Array<{ name: string; version: number; files: number }> = [];
  let cursor: string | undefined;
  do {
    const page = await skills.list(owner, { scope: 'own', includeDisabled: true, cursor, limit: 100 });
    for (const s of page.items) {
      const target = path.join(dir, s.name);
      if (!opts.overwrite && (await stat(target).catch(() => null))) {
        throw new ConflictError('conflict', `${target} already exists (use --overwrite)`);
      }
      const { version, files } = await skills.versionContents(owner, s.name, 'latest');
      for (const f of files) {
        const file = path.join(target, ...f.path.split('/'));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, f.data);
        await chmod(file, f.executable ? 0o755 : 0o644);
      }
      out.push({ name: s.name, version: version.number, files: files.length });
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return out;
}
