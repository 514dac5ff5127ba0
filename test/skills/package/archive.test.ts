import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_ARCHIVE_LIMITS,
  readSkillArchive,
  type ArchiveLimits,
} from '../../../src/skills/package/index.js';
import { craftZip, skillMd, type CraftEntry } from '../../helpers/zip-craft.js';
import { expectAppError, makeTempDir, yazlZip, type TempDir } from './helpers.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir();
});
afterAll(async () => {
  await tmp.cleanup();
});

const MiB = 1024 * 1024;

async function readBuffer(zip: Buffer, limits: Partial<ArchiveLimits> = {}) {
  const p = await tmp.file('upload.zip', zip);
  return readSkillArchive(p, { ...DEFAULT_ARCHIVE_LIMITS, ...limits });
}

/** A crafted zip: a valid SKILL.md at the root plus the given entries. */
function withSkill(...entries: CraftEntry[]): Buffer {
  return craftZip([{ name: 'SKILL.md', data: skillMd() }, ...entries]);
}

describe('readSkillArchive: ordinary skills', () => {
  it('reads a skill whose SKILL.md is at the archive root, files sorted by path', async () => {
    const zip = await yazlZip([
      { path: 'scripts/run.sh', data: '#!/bin/sh\necho hi\n', mode: 0o100755 },
      { path: 'SKILL.md', data: skillMd() },
      { path: 'references/guide.md', data: '# Guide\n' },
    ]);
    const result = await readBuffer(zip);
    expect(result.rootFolder).toBeNull();
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'references/guide.md', 'scripts/run.sh']);
    expect(result.files[0]!.data.equals(skillMd())).toBe(true);
    expect(result.files[1]!.data.toString()).toBe('# Guide\n');
  });

  it('strips a single top-level folder and returns it as rootFolder', async () => {
    const zip = await yazlZip([
      { path: 'my-skill/SKILL.md', data: skillMd('my-skill') },
      { path: 'my-skill/assets/template.txt', data: 'tpl' },
    ]);
    const result = await readBuffer(zip);
    expect(result.rootFolder).toBe('my-skill');
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'assets/template.txt']);
  });

  it('accepts folders nested 6 deep (inside a top-level folder)', async () => {
    const deep = 'a/b/c/d/e/f/deep.txt';
    const zip = await yazlZip([
      { path: 'sk/SKILL.md', data: skillMd('sk') },
      { path: `sk/${deep}`, data: 'deep' },
    ]);
    const result = await readBuffer(zip);
    expect(result.files.find((f) => f.path === deep)?.data.toString()).toBe('deep');
  });

  it('accepts exactly maxDepth folders below the root but not one more', async () => {
    const twelve = Array.from({ length: 12 }, (_, i) => `d${i}`).join('/');
    const ok = await readBuffer(
      await yazlZip([
        { path: 'top/SKILL.md', data: skillMd('top') },
        { path: `top/${twelve}/f.txt`, data: 'x' },
      ]),
    );
    expect(ok.files.map((f) => f.path)).toContain(`${twelve}/f.txt`);

    const tooDeep = `top/${twelve}/d12/f.txt`;
    const err = await expectAppError(
      readBuffer(
        await yazlZip([
          { path: 'top/SKILL.md', data: skillMd('top') },
          { path: tooDeep, data: 'x' },
        ]),
      ),
      422,
      'invalid_archive',
      tooDeep,
    );
    expect(err.message).toContain('deeper than 12');
  });

  it('returns binary files byte for byte', async () => {
    const binary = Buffer.concat([randomBytes(70_000), Buffer.from([0, 0, 0xff, 0xfe]), Buffer.alloc(1000)]);
    const zip = await yazlZip([
      { path: 'SKILL.md', data: skillMd() },
      { path: 'assets/font.ttf', data: binary },
      { path: 'assets/stored.bin', data: binary, compress: false },
    ]);
    const result = await readBuffer(zip);
    expect(result.files.find((f) => f.path === 'assets/font.ttf')!.data.equals(binary)).toBe(true);
    expect(result.files.find((f) => f.path === 'assets/stored.bin')!.data.equals(binary)).toBe(true);
  });

  it('keeps the executable bit per file', async () => {
    const zip = await yazlZip([
      { path: 'SKILL.md', data: skillMd(), mode: 0o100644 },
      { path: 'scripts/run.sh', data: '#!/bin/sh\n', mode: 0o100755 },
      { path: 'scripts/owner-only.py', data: 'print(1)\n', mode: 0o100700 },
      { path: 'scripts/helper.py', data: 'x = 1\n', mode: 0o100644 },
    ]);
    const result = await readBuffer(zip);
    const exec = Object.fromEntries(result.files.map((f) => [f.path, f.executable]));
    expect(exec).toEqual({
      'SKILL.md': false,
      'scripts/helper.py': false,
      'scripts/owner-only.py': true,
      'scripts/run.sh': true,
    });
  });

  it('ignores unix mode bits when the archive was not made on unix', async () => {
    const result = await readBuffer(
      withSkill({ name: 'run.sh', data: Buffer.from('x'), madeByOs: 0, externalAttributes: 0o100755 << 16 }),
    );
    expect(result.files.find((f) => f.path === 'run.sh')?.executable).toBe(false);
  });

  it('skips directory entries and macOS junk silently', async () => {
    const zip = await yazlZip([
      { path: 'my-skill/', dir: true },
      { path: 'my-skill/scripts/', dir: true },
      { path: 'my-skill/SKILL.md', data: skillMd('my-skill') },
      { path: 'my-skill/.DS_Store', data: 'junk' },
      { path: 'my-skill/scripts/.DS_Store', data: 'junk' },
      { path: '__MACOSX/', dir: true },
      { path: '__MACOSX/my-skill/._SKILL.md', data: 'resource fork' },
      { path: 'my-skill/scripts/x.py', data: 'x' },
    ]);
    const result = await readBuffer(zip);
    expect(result.rootFolder).toBe('my-skill');
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'scripts/x.py']);
    expect(result.skipped.map((s) => s.path).sort()).toEqual([
      '__MACOSX/my-skill/._SKILL.md',
      'my-skill/.DS_Store',
      'my-skill/scripts/.DS_Store',
    ]);
  });

  it('reads stored (uncompressed) crafted entries and normalises a ./ prefix', async () => {
    const result = await readBuffer(
      craftZip([
        { name: './SKILL.md', data: skillMd(), method: 0 },
        { name: 'empty.txt', data: Buffer.alloc(0) },
      ]),
    );
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'empty.txt']);
    expect(result.files[1]!.data.length).toBe(0);
  });
});

describe('readSkillArchive: SKILL.md location', () => {
  const notFound = 'SKILL.md not found at the archive root or in a single top-level folder';

  it('refuses an archive without SKILL.md', async () => {
    const err = await expectAppError(
      readBuffer(await yazlZip([{ path: 'README.md', data: 'hi' }])),
      422,
      'invalid_archive',
    );
    expect(err.message).toBe(notFound);
  });

  it('refuses two top-level folders each holding a SKILL.md', async () => {
    const zip = await yazlZip([
      { path: 'one/SKILL.md', data: skillMd('one') },
      { path: 'two/SKILL.md', data: skillMd('two') },
    ]);
    expect((await expectAppError(readBuffer(zip), 422, 'invalid_archive')).message).toBe(notFound);
  });

  it('refuses a top-level folder with SKILL.md next to a stray root file', async () => {
    const zip = await yazlZip([
      { path: 'one/SKILL.md', data: skillMd('one') },
      { path: 'stray.txt', data: 'x' },
    ]);
    expect((await expectAppError(readBuffer(zip), 422, 'invalid_archive')).message).toBe(notFound);
  });

  it('refuses a SKILL.md two folders down and a lowercase skill.md', async () => {
    const deep = await yazlZip([{ path: 'a/b/SKILL.md', data: skillMd() }]);
    expect((await expectAppError(readBuffer(deep), 422, 'invalid_archive')).message).toBe(notFound);
    const lower = await yazlZip([{ path: 'skill.md', data: skillMd() }]);
    expect((await expectAppError(readBuffer(lower), 422, 'invalid_archive')).message).toBe(notFound);
  });

  it('prefers a root SKILL.md even when a folder also has one', async () => {
    const zip = await yazlZip([
      { path: 'SKILL.md', data: skillMd('outer') },
      { path: 'examples/SKILL.md', data: skillMd('inner') },
    ]);
    const result = await readBuffer(zip);
    expect(result.rootFolder).toBeNull();
    expect(result.files.map((f) => f.path)).toEqual(['SKILL.md', 'examples/SKILL.md']);
  });
});

describe('readSkillArchive: not a zip', () => {
  it('refuses plain text with a clear message', async () => {
    const err = await expectAppError(
      readBuffer(Buffer.from('this is not a zip file at all, just text\n'.repeat(10))),
      422,
      'invalid_archive',
    );
    expect(err.message).toMatch(/not a zip archive/);
  });

  it('refuses an empty file', async () => {
    const err = await expectAppError(readBuffer(Buffer.alloc(0)), 422, 'invalid_archive');
    expect(err.message).toMatch(/not a zip archive/);
  });

  it('refuses a truncated zip', async () => {
    const zip = await yazlZip([{ path: 'SKILL.md', data: randomBytes(5000) }]);
    await expectAppError(readBuffer(zip.subarray(0, zip.length - 30)), 422, 'invalid_archive');
  });

  it('refuses an archive file larger than maxArchiveBytes with 413', async () => {
    const zip = await yazlZip([{ path: 'SKILL.md', data: randomBytes(4096), compress: false }]);
    await expectAppError(readBuffer(zip, { maxArchiveBytes: 1024 }), 413, 'payload_too_large');
  });
});

describe('readSkillArchive: hostile entries', () => {
  const cases: Array<{ title: string; entry: CraftEntry; shown: string; problem: RegExp }> = [
    {
      title: 'an absolute path',
      entry: { name: '/etc/passwd', data: Buffer.from('x') },
      shown: '/etc/passwd',
      problem: /absolute path/,
    },
    {
      title: 'a leading .. segment',
      entry: { name: '../evil.sh', data: Buffer.from('x') },
      shown: '../evil.sh',
      problem: /'\.\.'/,
    },
    {
      title: 'a .. segment in the middle',
      entry: { name: 'scripts/../../evil.sh', data: Buffer.from('x') },
      shown: 'scripts/../../evil.sh',
      problem: /'\.\.'/,
    },
    {
      title: 'a backslash',
      entry: { name: 'scripts\\evil.sh', data: Buffer.from('x') },
      shown: 'scripts\\evil.sh',
      problem: /backslash/,
    },
    {
      title: 'a backslash traversal',
      entry: { name: '..\\..\\evil.sh', data: Buffer.from('x') },
      shown: '..\\..\\evil.sh',
      problem: /backslash/,
    },
    {
      title: 'a drive letter with slash',
      entry: { name: 'C:/Windows/evil.dll', data: Buffer.from('x') },
      shown: 'C:/Windows/evil.dll',
      problem: /drive letter/,
    },
    {
      title: 'a drive-relative path',
      entry: { name: 'c:evil.dll', data: Buffer.from('x') },
      shown: 'c:evil.dll',
      problem: /drive letter/,
    },
    {
      title: 'a symlink',
      entry: { name: 'scripts/link', data: Buffer.from('/etc/passwd'), unixMode: 0o120777 },
      shown: 'scripts/link',
      problem: /symbolic link/,
    },
    {
      title: 'a fifo',
      entry: { name: 'pipe', unixMode: 0o010644 },
      shown: 'pipe',
      problem: /special file/,
    },
    {
      title: 'a character device',
      entry: { name: 'dev/null', unixMode: 0o020666 },
      shown: 'dev/null',
      problem: /special file/,
    },
    {
      title: 'a block device',
      entry: { name: 'dev/sda', unixMode: 0o060660 },
      shown: 'dev/sda',
      problem: /special file/,
    },
    {
      title: 'a socket',
      entry: { name: 'sock', unixMode: 0o140755 },
      shown: 'sock',
      problem: /special file/,
    },
    {
      title: 'an encrypted entry',
      entry: { name: 'secret.txt', data: Buffer.from('x'), flags: 0x1 },
      shown: 'secret.txt',
      problem: /encrypted/,
    },
    {
      title: 'a NUL byte in the name',
      entry: { name: 'a\u0000b.txt', data: Buffer.from('x') },
      shown: 'a\u0000b.txt',
      problem: /control characters/,
    },
    {
      title: 'a control character in the name',
      entry: { name: 'scripts/\u0007bell.sh', data: Buffer.from('x') },
      shown: 'scripts/\u0007bell.sh',
      problem: /control characters/,
    },
    {
      title: 'an escape sequence in the name',
      entry: { name: 'x\u001b[2Jy.txt', data: Buffer.from('x') },
      shown: 'x\u001b[2Jy.txt',
      problem: /control characters/,
    },
    {
      title: 'an unsupported compression method',
      entry: { name: 'data.bz2', data: Buffer.from('x'), method: 12, raw: Buffer.from('xx') },
      shown: 'data.bz2',
      problem: /compression method 12/,
    },
    {
      title: 'a CRC mismatch',
      entry: { name: 'corrupt.txt', data: Buffer.from('hello'), crc: 0x12345678 },
      shown: 'corrupt.txt',
      problem: /CRC-32/,
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.title}, naming the entry`, async () => {
      const err = await expectAppError(readBuffer(withSkill(c.entry)), 422, 'invalid_archive', c.shown);
      expect(err.message).toMatch(c.problem);
    });
  }

  it('quotes control characters visibly in the message', async () => {
    const err = await expectAppError(
      readBuffer(withSkill({ name: 'a\u0000b.txt', data: Buffer.from('x') })),
      422,
      'invalid_archive',
    );
    expect(err.message).toContain('"a\\u0000b.txt"');
    expect(err.message).not.toContain('\u0000');
  });

  it('refuses a symlink even inside a top-level folder and even when named like a script', async () => {
    const zip = craftZip([
      { name: 'sk/SKILL.md', data: skillMd('sk') },
      { name: 'sk/scripts/run.sh', data: Buffer.from('../../../../etc/shadow'), unixMode: 0o120755 },
    ]);
    const err = await expectAppError(readBuffer(zip), 422, 'invalid_archive', 'sk/scripts/run.sh');
    expect(err.message).toMatch(/symbolic link/);
  });

  it('refuses a duplicate entry', async () => {
    const zip = withSkill(
      { name: 'notes.txt', data: Buffer.from('a') },
      { name: 'notes.txt', data: Buffer.from('b') },
    );
    const err = await expectAppError(readBuffer(zip), 422, 'invalid_archive', 'notes.txt');
    expect(err.message).toMatch(/duplicate/);
  });

  it('refuses a duplicate SKILL.md', async () => {
    const zip = withSkill({ name: 'SKILL.md', data: skillMd('other') });
    await expectAppError(readBuffer(zip), 422, 'invalid_archive', 'SKILL.md');
  });

  it('refuses duplicates that only differ by ./ or empty segments', async () => {
    const zip = withSkill(
      { name: 'scripts/run.sh', data: Buffer.from('a') },
      { name: './scripts/./run.sh', data: Buffer.from('b') },
    );
    const err = await expectAppError(readBuffer(zip), 422, 'invalid_archive', './scripts/./run.sh');
    expect(err.message).toMatch(/duplicate.*normalisation/);
    const zip2 = withSkill(
      { name: 'a/b.txt', data: Buffer.from('a') },
      { name: 'a//b.txt', data: Buffer.from('b') },
    );
    await expectAppError(readBuffer(zip2), 422, 'invalid_archive', 'a//b.txt');
  });

  it('refuses a path that is both a file and a folder', async () => {
    const zip = withSkill(
      { name: 'scripts', data: Buffer.from('i am a file') },
      { name: 'scripts/run.sh', data: Buffer.from('x') },
    );
    const err = await expectAppError(readBuffer(zip), 422, 'invalid_archive', 'scripts/run.sh');
    expect(err.message).toMatch(/which is a file/);
    const zip2 = withSkill({ name: 'lib/', unixMode: 0o040755 }, { name: 'lib', data: Buffer.from('x') });
    await expectAppError(readBuffer(zip2), 422, 'invalid_archive', 'lib');
  });

  it('refuses a path longer than maxPathLength', async () => {
    const long = `${'d'.repeat(100)}/`.repeat(5) + 'f'.repeat(20) + '.txt';
    expect(long.length).toBeGreaterThan(512);
    const err = await expectAppError(
      readBuffer(withSkill({ name: long, data: Buffer.from('x') })),
      422,
      'invalid_archive',
      long,
    );
    expect(err.message).toMatch(/longer than 512/);
    // the same name passes with a higher limit
    const ok = await readBuffer(withSkill({ name: long, data: Buffer.from('x') }), { maxPathLength: 1024 });
    expect(ok.files.map((f) => f.path)).toContain(long);
  });

  it('refuses an entry nested deeper than maxDepth at the root', async () => {
    const deep = `${Array.from({ length: 14 }, (_, i) => `d${i}`).join('/')}/f.txt`;
    const err = await expectAppError(
      readBuffer(withSkill({ name: deep, data: Buffer.from('x') })),
      422,
      'invalid_archive',
      deep,
    );
    expect(err.message).toMatch(/deeper than 12/);
    const err2 = await expectAppError(
      readBuffer(withSkill({ name: deep, data: Buffer.from('x') }), { maxDepth: 3 }),
      422,
      'invalid_archive',
      deep,
    );
    expect(err2.message).toMatch(/deeper than 3/);
  });
});

describe('readSkillArchive: zip bombs and limits', () => {
  const small: Partial<ArchiveLimits> = { maxFileBytes: 1 * MiB, maxUnpackedBytes: 4 * MiB, maxFiles: 10 };

  it('refuses a file over maxFileBytes with an honest header (413, names the entry)', async () => {
    const zip = withSkill({ name: 'big.bin', data: Buffer.alloc(2 * MiB) });
    const err = await expectAppError(readBuffer(zip, small), 413, 'payload_too_large', 'big.bin');
    expect(err.message).toMatch(/larger than 1048576 bytes/);
  });

  it('accepts a file of exactly maxFileBytes', async () => {
    const result = await readBuffer(withSkill({ name: 'edge.bin', data: Buffer.alloc(1 * MiB, 7) }), small);
    expect(result.files.find((f) => f.path === 'edge.bin')?.data.length).toBe(1 * MiB);
  });

  it('refuses a bomb whose headers claim a tiny size while it inflates past maxFileBytes', async () => {
    const zip = withSkill({ name: 'bomb.txt', data: Buffer.alloc(16 * MiB), declaredSize: 100 });
    expect(zip.length).toBeLessThan(64 * 1024); // the archive itself is small: only the inflated size is big
    const err = await expectAppError(readBuffer(zip, small), 413, 'payload_too_large', 'bomb.txt');
    expect(err.message).toMatch(/larger than 1048576 bytes once unpacked/);
  });

  it('refuses a lying header that would pass every header-only check (total counted while inflating)', async () => {
    const zip = withSkill({ name: 'sneaky.bin', data: Buffer.alloc(6 * MiB), declaredSize: 10 });
    const err = await expectAppError(
      readBuffer(zip, { maxFileBytes: 8 * MiB, maxUnpackedBytes: 4 * MiB }),
      413,
      'payload_too_large',
      'sneaky.bin',
    );
    expect(err.message).toMatch(/unpacks to more than 4194304 bytes/);
  });

  it('refuses an entry whose real size differs from its header within the limits', async () => {
    const bigger = withSkill({ name: 'liar.txt', data: Buffer.alloc(5000, 1), declaredSize: 10 });
    const e1 = await expectAppError(readBuffer(bigger), 422, 'invalid_archive', 'liar.txt');
    expect(e1.message).toMatch(/different size than its header declares/);
    const smaller = withSkill({ name: 'liar.txt', data: Buffer.alloc(10, 1), declaredSize: 5000 });
    await expectAppError(readBuffer(smaller), 422, 'invalid_archive', 'liar.txt');
  });

  it('refuses an overlapping-entries bomb by the total unpacked size', async () => {
    const entries: CraftEntry[] = [
      { name: 'SKILL.md', data: skillMd() },
      { name: 'chunk-0.bin', data: Buffer.alloc(1 * MiB) },
    ];
    for (let i = 1; i < 30; i++) entries.push({ name: `chunk-${i}.bin`, shareDataWith: 1 });
    const err = await expectAppError(
      readBuffer(craftZip(entries), { ...small, maxFiles: 100 }),
      413,
      'payload_too_large',
      'chunk-3.bin',
    );
    expect(err.message).toMatch(/unpacks to more than/);
  });

  it('refuses more than maxFiles files', async () => {
    const entries: CraftEntry[] = [{ name: 'SKILL.md', data: skillMd() }];
    for (let i = 0; i < 10; i++) entries.push({ name: `f${i}.txt`, data: Buffer.from(String(i)) });
    const err = await expectAppError(readBuffer(craftZip(entries), small), 413, 'payload_too_large');
    expect(err.message).toMatch(/more than 10 files/);
    // ten files exactly is fine
    const ok = await readBuffer(craftZip(entries.slice(0, 10)), small);
    expect(ok.files).toHaveLength(10);
  });

  it('refuses a central directory with far more entries than files allowed', async () => {
    const entries: CraftEntry[] = [{ name: 'SKILL.md', data: skillMd() }];
    for (let i = 0; i < 45; i++) entries.push({ name: `d${i}/`, unixMode: 0o040755 });
    const err = await expectAppError(readBuffer(craftZip(entries), small), 413, 'payload_too_large');
    expect(err.message).toMatch(/46 entries/);
  });
});
