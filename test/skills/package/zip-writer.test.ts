import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_ARCHIVE_LIMITS,
  createSkillZipStream,
  readSkillArchive,
  skillZipBuffer,
  writeSkillZip,
  type ZipInputFile,
} from '../../../src/skills/package/index.js';
import { skillMd } from '../../helpers/zip-craft.js';
import { makeTempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('skillport-zipw-');
});
afterAll(async () => {
  await tmp.cleanup();
});

const files: ZipInputFile[] = [
  { path: 'scripts/run.sh', data: Buffer.from('#!/bin/sh\necho ok\n'), executable: true },
  { path: 'SKILL.md', data: skillMd('my-skill'), executable: false },
  { path: 'assets/blob.bin', data: randomBytes(20_000), executable: false },
];

async function rawEntries(zip: Buffer): Promise<Array<{ name: string; mode: number }>> {
  const z = await yauzl.fromBufferPromise(zip, { lazyEntries: true });
  const out: Array<{ name: string; mode: number }> = [];
  for await (const e of z.eachEntry()) out.push({ name: e.fileName, mode: e.externalFileAttributes >>> 16 });
  return out;
}

describe('zip writer', () => {
  it('writes the folder as the top-level entry with 0755/0644 modes, sorted', async () => {
    const zip = await skillZipBuffer('my-skill', files);
    expect(await rawEntries(zip)).toEqual([
      { name: 'my-skill/SKILL.md', mode: 0o100644 },
      { name: 'my-skill/assets/blob.bin', mode: 0o100644 },
      { name: 'my-skill/scripts/run.sh', mode: 0o100755 },
    ]);
  });

  it('round-trips through readSkillArchive (data, executable bits, rootFolder)', async () => {
    const p = await tmp.file('rt.zip', await skillZipBuffer('my-skill', files));
    const result = await readSkillArchive(p, DEFAULT_ARCHIVE_LIMITS);
    expect(result.rootFolder).toBe('my-skill');
    const byPath = new Map(files.map((f) => [f.path, f]));
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'assets/blob.bin', 'scripts/run.sh']);
    for (const f of result.files) {
      const original = byPath.get(f.path)!;
      expect(f.data.equals(original.data)).toBe(true);
      expect(f.executable).toBe(original.executable);
    }
  });

  it('writes to a writable stream and can put files at the root', async () => {
    const target = path.join(tmp.dir, 'out.zip');
    await writeSkillZip(null, files, createWriteStream(target));
    const entries = await rawEntries(await readFile(target));
    expect(entries.map((e) => e.name)).toEqual(['SKILL.md', 'assets/blob.bin', 'scripts/run.sh']);
    const result = await readSkillArchive(target, DEFAULT_ARCHIVE_LIMITS);
    expect(result.rootFolder).toBeNull();
  });

  it('is deterministic for the same input', async () => {
    const a = await skillZipBuffer('my-skill', files);
    const b = await skillZipBuffer('my-skill', [...files].reverse());
    expect(a.equals(b)).toBe(true);
  });

  it('refuses unsafe folder names, unsafe paths and duplicates', () => {
    const one = [{ path: 'SKILL.md', data: Buffer.from('x'), executable: false }];
    expect(() => createSkillZipStream('a/b', one)).toThrow(/unsafe folder name/);
    expect(() => createSkillZipStream('..', one)).toThrow(/unsafe folder name/);
    for (const bad of ['../x', 'a/../../x', '/abs', 'C:/x', 'a\\b', 'a//b', 'dir/']) {
      expect(() =>
        createSkillZipStream('s', [{ path: bad, data: Buffer.from('x'), executable: false }]),
      ).toThrow(/unsafe file path/);
    }
    expect(() => createSkillZipStream('s', [...one, ...one])).toThrow(/duplicate/);
  });
});
