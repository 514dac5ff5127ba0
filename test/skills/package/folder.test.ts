import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ARCHIVE_LIMITS, readSkillFolder } from '../../../src/skills/package/index.js';
import { skillMd } from '../../helpers/zip-craft.js';
import { expectAppError, makeTempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
let counter = 0;
beforeAll(async () => {
  tmp = await makeTempDir('skillport-folder-');
});
afterAll(async () => {
  await tmp.cleanup();
});

/** Create a fresh skill folder named `name` holding the given files (path → content). */
async function makeSkill(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = path.join(tmp.dir, String(counter++), name);
  await mkdir(dir, { recursive: true });
  for (const [rel, data] of Object.entries(files)) {
    const abs = path.join(dir, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, data);
  }
  return dir;
}

describe('readSkillFolder', () => {
  it('reads files sorted by path, binary intact, rootFolder = folder name, executable bits kept', async () => {
    const binary = randomBytes(10_000);
    const dir = await makeSkill('pdf-tools', {
      'SKILL.md': skillMd('pdf-tools'),
      'scripts/run.sh': '#!/bin/sh\n',
      'scripts/lib.py': 'x = 1\n',
      'assets/a/b/c/d/e/f/font.ttf': binary,
    });
    await chmod(path.join(dir, 'scripts/run.sh'), 0o755);
    await chmod(path.join(dir, 'scripts/lib.py'), 0o644);
    const result = await readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS);
    expect(result.rootFolder).toBe('pdf-tools');
    expect(result.files.map((f) => [f.path, f.executable])).toEqual([
      ['SKILL.md', false],
      ['assets/a/b/c/d/e/f/font.ttf', false],
      ['scripts/lib.py', false],
      ['scripts/run.sh', true],
    ]);
    expect(result.files[1]!.data.equals(binary)).toBe(true);
  });

  it('skips .git, node_modules and .DS_Store, listing them as skipped', async () => {
    const dir = await makeSkill('s', {
      'SKILL.md': skillMd('s'),
      '.git/HEAD': 'ref: refs/heads/main\n',
      'node_modules/left-pad/index.js': 'module.exports = 1;\n',
      'scripts/.DS_Store': 'junk',
      'scripts/x.sh': 'echo\n',
    });
    const result = await readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS);
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'scripts/x.sh']);
    expect(result.skipped.map((s) => s.path).sort()).toEqual(['.git', 'node_modules', 'scripts/.DS_Store']);
  });

  it('skips a symlink pointing inside the folder, with a reason', async () => {
    const dir = await makeSkill('s', { 'SKILL.md': skillMd('s'), 'references/guide.md': '# g\n' });
    await symlink('references/guide.md', path.join(dir, 'guide-link.md'));
    const result = await readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS);
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'references/guide.md']);
    expect(result.skipped).toEqual([
      { path: 'guide-link.md', reason: expect.stringMatching(/symbolic link/) },
    ]);
  });

  it('refuses a symlink pointing outside the folder, naming it', async () => {
    const outside = await makeSkill('elsewhere', { 'secret.txt': 'top secret' });
    const dir = await makeSkill('s', { 'SKILL.md': skillMd('s') });
    await mkdir(path.join(dir, 'scripts'));
    await symlink(path.join(outside, 'secret.txt'), path.join(dir, 'scripts/secret.txt'));
    const err = await expectAppError(
      readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS),
      422,
      'invalid_archive',
      'scripts/secret.txt',
    );
    expect(err.message).toMatch(/outside the skill folder/);
  });

  it('refuses a dangling symlink and a directory symlink leading out', async () => {
    const dangling = await makeSkill('s', { 'SKILL.md': skillMd('s') });
    await symlink('/nonexistent/nowhere', path.join(dangling, 'gone'));
    await expectAppError(readSkillFolder(dangling, DEFAULT_ARCHIVE_LIMITS), 422, 'invalid_archive', 'gone');

    const dirLink = await makeSkill('s', { 'SKILL.md': skillMd('s') });
    await symlink('..', path.join(dirLink, 'parent'));
    await expectAppError(readSkillFolder(dirLink, DEFAULT_ARCHIVE_LIMITS), 422, 'invalid_archive', 'parent');
  });

  it('refuses a fifo', async () => {
    const dir = await makeSkill('s', { 'SKILL.md': skillMd('s') });
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    const err = await expectAppError(
      readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS),
      422,
      'invalid_archive',
      'pipe',
    );
    expect(err.message).toMatch(/not a regular file/);
  });

  it('refuses a folder without SKILL.md at its root, and a missing folder', async () => {
    const dir = await makeSkill('s', { 'nested/SKILL.md': skillMd('s') });
    const err = await expectAppError(readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS), 422, 'invalid_archive');
    expect(err.message).toMatch(/SKILL\.md not found/);
    await expectAppError(
      readSkillFolder(path.join(tmp.dir, 'does-not-exist'), DEFAULT_ARCHIVE_LIMITS),
      422,
      'invalid_archive',
    );
  });

  it('applies the file size, total size, file count and depth limits', async () => {
    const dir = await makeSkill('s', {
      'SKILL.md': skillMd('s'),
      'a.bin': Buffer.alloc(3000),
      'b.bin': Buffer.alloc(3000),
      'x/y/z/deep.txt': 'deep',
    });
    const big = await expectAppError(
      readSkillFolder(dir, { ...DEFAULT_ARCHIVE_LIMITS, maxFileBytes: 2000 }),
      413,
      'payload_too_large',
      'a.bin',
    );
    expect(big.message).toMatch(/larger than 2000 bytes/);
    await expectAppError(
      readSkillFolder(dir, { ...DEFAULT_ARCHIVE_LIMITS, maxUnpackedBytes: 5000 }),
      413,
      'payload_too_large',
      'b.bin',
    );
    const many = await expectAppError(
      readSkillFolder(dir, { ...DEFAULT_ARCHIVE_LIMITS, maxFiles: 3 }),
      413,
      'payload_too_large',
    );
    expect(many.message).toMatch(/more than 3 files/);
    const deep = await expectAppError(
      readSkillFolder(dir, { ...DEFAULT_ARCHIVE_LIMITS, maxDepth: 2 }),
      422,
      'invalid_archive',
      'x/y/z/deep.txt',
    );
    expect(deep.message).toMatch(/deeper than 2/);
    // the defaults accept it
    expect((await readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS)).files).toHaveLength(4);
  });

  it('refuses a file name with a backslash or control character', async () => {
    const dir = await makeSkill('s', { 'SKILL.md': skillMd('s'), 'bad\\name.txt': 'x' });
    const err = await expectAppError(
      readSkillFolder(dir, DEFAULT_ARCHIVE_LIMITS),
      422,
      'invalid_archive',
      'bad\\name.txt',
    );
    expect(err.message).toMatch(/backslash/);
    const dir2 = await makeSkill('s', { 'SKILL.md': skillMd('s'), 'bell\u0007.txt': 'x' });
    await expectAppError(
      readSkillFolder(dir2, DEFAULT_ARCHIVE_LIMITS),
      422,
      'invalid_archive',
      'bell\u0007.txt',
    );
  });
});
