/** The folder-backed SkillLibrary behind `skillport stdio`, without a process in between. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderSkillLibrary, type CatalogChange } from '../../src/tools/skills/folder-library.js';
import { createLogger } from '../../src/observability/logger.js';
import { sha256Hex } from '../../src/shared/crypto.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../../src/skills/package/index.js';

let root: string;
let logs: any[];
const libraries: FolderSkillLibrary[] = [];

function skill(
  folder: string,
  name: string,
  description: string,
  body = '',
  files: Record<string, string> = {},
) {
  const d = path.join(root, folder);
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, 'SKILL.md'), `---\nname: ${name}\ndescription: ${description}\n---\n${body}`);
  for (const [p, data] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(d, p)), { recursive: true });
    writeFileSync(path.join(d, p), data);
  }
  return d;
}

async function open(opts: { watch?: boolean; maxFileBytes?: number } = {}) {
  const logger = createLogger(
    'debug',
    new Writable({
      write(chunk, _e, cb) {
        logs.push(
          ...String(chunk)
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l)),
        );
        cb();
      },
    }),
  );
  const lib = await new FolderSkillLibrary({
    root,
    logger,
    watch: opts.watch ?? false,
    limits: {
      ...DEFAULT_ARCHIVE_LIMITS,
      maxFileBytes: opts.maxFileBytes ?? DEFAULT_ARCHIVE_LIMITS.maxFileBytes,
    },
  }).open();
  libraries.push(lib);
  return lib;
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'skillport-folder-'));
  logs = [];
});
afterEach(() => {
  for (const l of libraries.splice(0)) l.close();
  rmSync(root, { recursive: true, force: true });
});

describe('FolderSkillLibrary', () => {
  it('finds skills at any depth, not inside other skills, .git or node_modules', async () => {
    skill('a', 'alpha', 'Alpha.');
    skill('a/sub/nested', 'nested-in-alpha', 'Belongs to alpha as files.');
    skill('deep/er/still/beta', 'beta', 'Beta.');
    skill('node_modules/x', 'in-node-modules', 'No.');
    skill('.git/x', 'in-git', 'No.');
    const lib = await open();
    expect(await lib.catalog()).toEqual([
      { name: 'alpha', description: 'Alpha.' },
      { name: 'beta', description: 'Beta.' },
    ]);
    const alpha = await lib.describe('alpha');
    expect(alpha.files.map((f) => f.path)).toEqual(['SKILL.md', 'sub/nested/SKILL.md']);
    const md = await lib.readFile('alpha', 'SKILL.md');
    expect(alpha.files[0]!.sha256).toBe(sha256Hex(md.data));
    expect(md.contentType).toBe('text/markdown; charset=utf-8');
  });

  it('serves a folder that is itself a skill', async () => {
    writeFileSync(path.join(root, 'SKILL.md'), '---\nname: root-skill\ndescription: The root.\n---\n');
    expect((await (await open()).catalog()).map((s) => s.name)).toEqual(['root-skill']);
  });

  it('skips invalid, oversized and escaping skills with a warning, and keeps the first of duplicate names', async () => {
    skill('good', 'good', 'Good.');
    mkdirSync(path.join(root, 'no-frontmatter'));
    writeFileSync(path.join(root, 'no-frontmatter/SKILL.md'), 'just text');
    skill('too-big', 'too-big', 'Has a big file.', '', { 'big.bin': 'x'.repeat(2048) });
    const escaping = skill('escaping', 'escaping', 'Links outside.');
    symlinkSync('/etc/passwd', path.join(escaping, 'passwd'));
    skill('dup-1', 'dup', 'First by path.');
    skill('dup-2', 'dup', 'Second by path.');
    const lib = await open({ maxFileBytes: 1024 });
    expect(await lib.catalog()).toEqual([
      { name: 'dup', description: 'First by path.' },
      { name: 'good', description: 'Good.' },
    ]);
    const skipped = logs.filter((l) => l.msg === 'skill folder skipped').map((l) => l.folder);
    expect(skipped.sort()).toEqual(['escaping', 'no-frontmatter', 'too-big']);
    expect(logs.some((l) => l.msg.startsWith('duplicate skill name') && l.folder === 'dup-2')).toBe(true);
  });

  it('re-checks on every call and reports what changed', async () => {
    skill('one', 'one', 'One.');
    skill('two', 'two', 'Two.');
    const lib = await open();
    const changes: CatalogChange[] = [];
    lib.events.on('change', (c) => changes.push(c));
    skill('three', 'three', 'Three.');
    rmSync(path.join(root, 'two'), { recursive: true });
    writeFileSync(path.join(root, 'one/SKILL.md'), '---\nname: one\ndescription: One, edited.\n---\n');
    expect(await lib.catalog()).toEqual([
      { name: 'one', description: 'One, edited.' },
      { name: 'three', description: 'Three.' },
    ]);
    expect(changes).toEqual([{ added: ['three'], removed: ['two'], changed: ['one'] }]);
    await lib.catalog();
    expect(changes).toHaveLength(1); // nothing changed since
  });

  it('answers many concurrent calls from shared scans', async () => {
    for (let i = 0; i < 5; i++) skill(`s${i}`, `skill-${i}`, `Skill ${i}.`);
    const lib = await open();
    const answers = await Promise.all(Array.from({ length: 50 }, () => lib.catalog()));
    for (const a of answers)
      expect(a.map((x) => x.name)).toEqual(['skill-0', 'skill-1', 'skill-2', 'skill-3', 'skill-4']);
  });

  it('notices changes without a call when watching', async () => {
    skill('one', 'one', 'One.');
    const lib = await open({ watch: true });
    const change = new Promise<CatalogChange>((resolve) => lib.events.once('change', resolve));
    skill('later/two', 'two', 'Added later, in a new folder.');
    expect(await change).toEqual({ added: ['two'], removed: [], changed: [] });
  });

  it('never follows a file swapped for a link after listing', async () => {
    skill('s', 's', 'S.', '', { 'notes.txt': 'fine' });
    const lib = await open();
    expect((await lib.readFile('s', 'notes.txt')).data.toString()).toBe('fine');
    unlinkSync(path.join(root, 's/notes.txt'));
    symlinkSync('/etc/passwd', path.join(root, 's/notes.txt'));
    // The re-check sees a link pointing outside: the whole skill is refused, nothing is read through it.
    await expect(lib.readFile('s', 'notes.txt')).rejects.toThrow(/No skill named "s"/);
  });

  it('searches names, descriptions and bodies, best first', async () => {
    skill('p', 'pdf-tools', 'Extract text from documents.');
    skill('d', 'doc-helper', 'Work with PDF documents.');
    skill('b', 'misc', 'Other things.', 'Sometimes a pdf appears in the body.');
    skill('z', 'zzz', 'Nothing relevant.');
    const lib = await open();
    const results = await lib.search('pdf', 10);
    expect(results.map((r) => r.name)).toEqual(['pdf-tools', 'doc-helper', 'misc']);
    expect(results[0]!.score).toBeGreaterThan(results[1]!.score);
    expect(await lib.search('pdf', 1)).toHaveLength(1);
    expect(await lib.search('!!!', 5)).toEqual([]);
  });

  it('pages entries with a cursor', async () => {
    for (const n of ['a1', 'b2', 'c3', 'd4', 'e5']) skill(n, `skill-${n}`, `Skill ${n}.`);
    const lib = await open();
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await lib.entries(cursor, 2);
      seen.push(...page.skills.map((s) => s.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['skill-a1', 'skill-b2', 'skill-c3', 'skill-d4', 'skill-e5']);
  });
});
