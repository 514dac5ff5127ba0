/**
 * `skillport stdio --skills-dir DIR`: the real CLI in a child process, driven by the SDK client over stdio in both
 * protocol eras.
 */
import { existsSync, chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryBytes, callError, callText, deferred } from './fixtures.js';

const dirs: string[] = [];
const png = binaryBytes(4096, 11);

function writeSkill(root: string, folder: string, name: string, description: string, body = `# ${name}\n`) {
  const d = path.join(root, folder);
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, 'SKILL.md'), `---\nname: ${name}\ndescription: ${description}\n---\n${body}`);
  return d;
}

/** A fresh folder of skills (each suite edits its own). */
function makeTree(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'skillport-stdio-'));
  dirs.push(dir);
  const pdf = writeSkill(
    dir,
    'pdf-tools',
    'pdf-tools',
    'Extract text from PDF files. Use for PDFs.',
    '# PDF tools\n\nRun scripts/extract.py.\n',
  );
  mkdirSync(path.join(pdf, 'scripts'));
  writeFileSync(path.join(pdf, 'scripts/extract.py'), 'print("extract")\n');
  chmodSync(path.join(pdf, 'scripts/extract.py'), 0o755);
  mkdirSync(path.join(pdf, 'assets'));
  writeFileSync(path.join(pdf, 'assets/logo.png'), png);
  // Found at any depth; .git and node_modules are not searched.
  writeSkill(dir, 'team/writing/style-guide', 'style-guide', 'House style for documents.');
  writeSkill(dir, 'node_modules/some-pkg', 'from-node-modules', 'Must not be served.');
  writeSkill(dir, '.git/hooks-skill', 'from-git', 'Must not be served.');
  // An invalid skill is skipped (with a warning on stderr), not fatal.
  mkdirSync(path.join(dir, 'broken'));
  writeFileSync(path.join(dir, 'broken', 'SKILL.md'), 'no frontmatter here\n');
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function spawnClient(
  dir: string,
  era: 'auto' | 'modern',
): Promise<{ client: Client; stderr: () => string[] }> {
  const transport = new StdioClientTransport({
    command: 'npx',
    args: ['tsx', 'src/cli/main.ts', 'stdio', '--skills-dir', dir],
    cwd: process.cwd(),
    env: { ...getDefaultEnvironment(), LOG_LEVEL: 'debug' },
    stderr: 'pipe',
  });
  let raw = '';
  transport.stderr?.on('data', (d: Buffer) => (raw += String(d)));
  const stderr = () => raw.split('\n').filter(Boolean);
  const client = new Client(
    { name: 'stdio-test', version: '1.0.0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  client.onerror = (err) => {
    throw err; // anything but protocol on stdout would surface here
  };
  await client.connect(transport);
  return { client, stderr };
}

describe.each(['auto', 'modern'] as const)('skillport stdio (%s era)', (era) => {
  let client: Client;
  let stderr: () => string[];
  let dir: string;
  beforeAll(async () => {
    dir = makeTree();
    ({ client, stderr } = await spawnClient(dir, era));
  }, 60_000);
  afterAll(() => client?.close());

  it('serves every tool from the folder', async () => {
    if (era === 'modern') expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const tools = (await client.listTools()).tools.map((x) => x.name).sort();
    expect(tools).toEqual([
      'load_skill',
      'load_skill_metadata',
      'read_reference_file',
      'run_shell_command',
      'search_skills',
    ]);

    const meta = await callText(client, 'load_skill_metadata');
    expect(meta).toBe(
      'Available skills (2). Call load_skill(skill_name) before using one:\n' +
        '- pdf-tools: Extract text from PDF files. Use for PDFs.\n' +
        '- style-guide: House style for documents.',
    );
    const loaded = await callText(client, 'load_skill', { skill_name: 'pdf-tools' });
    expect(loaded).toContain('Run scripts/extract.py.');
    expect(loaded).toContain('- scripts/extract.py (17 B, executable)');
    expect(loaded).toContain('- assets/logo.png (4.0 KB)');
    expect(
      await callText(client, 'read_reference_file', {
        skill_name: 'pdf-tools',
        file_name: './scripts/extract.py',
      }),
    ).toBe('print("extract")\n');
    const blob: any = await client.callTool({
      name: 'read_reference_file',
      arguments: { skill_name: 'pdf-tools', file_name: 'assets/logo.png' },
    });
    expect(blob.content[0].resource.uri).toBe('skill://pdf-tools/assets/logo.png');
    expect(Buffer.from(blob.content[0].resource.blob, 'base64').equals(png)).toBe(true);
    expect(
      await callError(client, 'read_reference_file', {
        skill_name: 'pdf-tools',
        file_name: '../broken/SKILL.md',
      }),
    ).toContain('not a path inside the skill');
    expect(await callError(client, 'load_skill', { skill_name: 'pdf-tool' })).toContain(
      'Did you mean: pdf-tools?',
    );
    const search = await callText(client, 'search_skills', { query: 'pdf files' });
    expect(search.split('\n')[1]).toMatch(/^- pdf-tools \(score [\d.]+\): /);
    expect(search).not.toContain('style-guide');
  });

  it("runs a skill's script in the sandbox, leaving the folder untouched", async () => {
    const run = await callText(client, 'run_shell_command', {
      skill_name: 'pdf-tools',
      command: 'python3 scripts/extract.py && echo made > out.txt',
    });
    expect(run).toMatch(/^Exit code 0/);
    expect(run).toContain('extract');
    expect(run).toContain('- out.txt (5 B)');
    expect(existsSync(path.join(dir, 'pdf-tools', 'out.txt'))).toBe(false);
  });

  it('serves the skills resources with verifiable digests', async () => {
    const skills = new SkillsClient(client);
    const { skills: entries } = await skills.list();
    expect(entries.map((s) => s.uri)).toEqual(['skill://pdf-tools/SKILL.md', 'skill://style-guide/SKILL.md']);
    for (const entry of entries) {
      for (const r of entry.resources as Array<{ uri: string }>) {
        const file = await skills.read(entry, r.uri);
        expect(file.verified, r.uri).toBe(true);
      }
    }
    const logo = await skills.read(entries[0]!, 'assets/logo.png');
    expect(Buffer.from(logo.bytes).equals(png)).toBe(true);
  });

  it('notices a new skill folder: list_changed, and the next call shows it', async () => {
    const changed = deferred();
    client.setNotificationHandler('notifications/resources/list_changed', () => changed.resolve());
    const sub = era === 'modern' ? await client.listen({ resourcesListChanged: true }) : undefined;
    const name = `added-${era}`;
    writeSkill(dir, `new/${name}`, name, `Added while the ${era} client was connected.`);
    await changed.promise;
    expect(await callText(client, 'load_skill_metadata')).toContain(
      `- ${name}: Added while the ${era} client`,
    );
    await sub?.close();
  });

  it('re-checks the folder on every call, watcher or not', async () => {
    // No waiting at all: the call itself sees the edit.
    writeFileSync(
      path.join(dir, 'team/writing/style-guide/SKILL.md'),
      `---\nname: style-guide\ndescription: House style, revised for ${era}.\n---\nBody\n`,
    );
    expect(await callText(client, 'load_skill_metadata')).toContain(
      `- style-guide: House style, revised for ${era}.`,
    );
    rmSync(path.join(dir, `new/added-${era}`), { recursive: true });
    expect(await callText(client, 'load_skill_metadata')).not.toContain(`added-${era}`);
  });

  it('logs on stderr only, as JSON lines', () => {
    // npx itself may print npm warnings; everything Skillport writes is a JSON line.
    const lines = stderr()
      .filter((l) => !l.startsWith('npm '))
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.msg === 'serving skills over stdio')).toBe(true);
    expect(lines.some((l) => l.msg === 'skill folder skipped' && l.folder === 'broken')).toBe(true);
    expect(lines.some((l) => l.msg === 'tool call' && l.tool === 'load_skill' && l.user === null)).toBe(true);
  });
});

describe('load_skill_metadata on a large library', () => {
  let client: Client;
  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'skillport-stdio-many-'));
    dirs.push(dir);
    for (let i = 0; i < 250; i++) {
      const name = `skill-${String(i).padStart(3, '0')}`;
      writeSkill(dir, name, name, `Does task number ${i}.`);
    }
    ({ client } = await spawnClient(dir, 'auto'));
  }, 60_000);
  afterAll(() => client?.close());

  it('answers 100 skills at a time, each page saying how to get the next, until all 250 were listed', async () => {
    const listed: string[] = [];
    const cursors: Array<string | undefined> = [undefined];
    for (const cursor of cursors) {
      const text = await callText(client, 'load_skill_metadata', cursor ? { cursor } : {});
      expect(text.split('\n')[0]).toMatch(/^Available skills \(250\), \d+–\d+ shown\./);
      listed.push(...[...text.matchAll(/^- (skill-\d{3}): Does task number \d+\.$/gm)].map((m) => m[1]!));
      const next = /cursor "(\d+)"/.exec(text)?.[1];
      if (next) cursors.push(next);
      else expect(text).not.toContain('more:');
    }
    expect(cursors).toEqual([undefined, '100', '200']);
    expect(listed).toEqual(Array.from({ length: 250 }, (_, i) => `skill-${String(i).padStart(3, '0')}`));
  });

  it('refuses a cursor no page starts at, telling the model how to start again', async () => {
    for (const cursor of ['150', '300'])
      expect(await callError(client, 'load_skill_metadata', { cursor })).toContain(
        'call load_skill_metadata without a cursor',
      );
    expect(await callError(client, 'load_skill_metadata', { cursor: 'abc' })).toMatch(/cursor/i);
  });
});

describe('skillport stdio arguments', () => {
  it('requires --skills-dir and documents it in --help', async () => {
    const { execFile } = await import('node:child_process');
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile('npx', ['tsx', 'src/cli/main.ts', ...args], (err, stdout, stderr) =>
          resolve({ code: err ? ((err as any).code ?? 1) : 0, out: stdout + stderr }),
        ),
      );
    const help = await run(['--help']);
    expect(help.out).toContain('skillport stdio [options]');
    expect(help.out).toContain('--skills-dir <dir>');
    const missing = await run(['stdio']);
    expect(missing.code).not.toBe(0);
    expect(missing.out).toContain("required option '--skills-dir <dir>' not specified");
    const absent = await run(['stdio', '--skills-dir', path.join(tmpdir(), 'skillport-does-not-exist')]);
    expect(absent.code).not.toBe(0);
    expect(absent.out).toContain('is not a folder');
  }, 60_000);
});
