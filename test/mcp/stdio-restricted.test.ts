/**
 * `skillport stdio --only-skills a,b`: the restriction of an API key, over stdio. The real CLI in a child process,
 * driven by the official SDK client: tools/list, the metadata tool, search and skills/list show only the allowed
 * skills, and loading, reading or fetching another one answers exactly like a skill that does not exist.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, callText } from './fixtures.js';

let dir: string;
let client: Client;

function writeSkill(name: string, description: string) {
  mkdirSync(path.join(dir, name), { recursive: true });
  writeFileSync(
    path.join(dir, name, 'SKILL.md'),
    `---\nname: ${name}\ndescription: ${description}\n---\n# ${name}\n\nInstructions for ${name}.\n`,
  );
  writeFileSync(path.join(dir, name, 'notes.md'), `notes of ${name}\n`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'skillport-stdio-only-'));
  writeSkill('allowed-one', 'The first allowed skill, about invoices.');
  writeSkill('allowed-two', 'The second allowed skill, about receipts.');
  writeSkill('forbidden', 'A skill outside the restriction, about invoices too.');
  const transport = new StdioClientTransport({
    command: 'npx',
    args: [
      'tsx',
      'src/cli/main.ts',
      'stdio',
      '--skills-dir',
      dir,
      '--only-skills',
      'allowed-one, allowed-two',
    ],
    cwd: process.cwd(),
    // No sandbox needed here: the restriction is the tool layer's, whatever tools are served.
    env: { ...getDefaultEnvironment(), LOG_LEVEL: 'warn', COMMANDS_ENABLED: 'false' },
    stderr: 'pipe',
  });
  client = new Client({ name: 'stdio-only-test', version: '1.0.0' });
  await client.connect(transport);
}, 60_000);
afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('skillport stdio --only-skills', () => {
  it('lists only the allowed skills in the tools and in skills/list', async () => {
    const tools = (await client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain('load_skill');
    const metadata = await callText(client, 'load_skill_metadata');
    expect(metadata).toContain('Available skills (2)');
    expect(metadata).toContain('allowed-one');
    expect(metadata).toContain('allowed-two');
    expect(metadata).not.toContain('forbidden');
    const search = await callText(client, 'search_skills', { query: 'invoices' });
    expect(search).toContain('allowed-one');
    expect(search).not.toContain('forbidden');

    const { skills } = await new SkillsClient(client).list();
    expect(skills.map((s) => s.uri).sort()).toEqual([
      'skill://allowed-one/SKILL.md',
      'skill://allowed-two/SKILL.md',
    ]);
  });

  it('serves an allowed skill and answers for another exactly as for a missing one', async () => {
    expect(await callText(client, 'load_skill', { skill_name: 'allowed-two' })).toContain(
      'Instructions for allowed-two.',
    );
    const refused = await callError(client, 'load_skill', { skill_name: 'forbidden' });
    const missing = await callError(client, 'load_skill', { skill_name: 'never-existed' });
    expect(refused.replaceAll('forbidden', 'X')).toBe(missing.replaceAll('never-existed', 'X'));
    const read = await callError(client, 'read_reference_file', {
      skill_name: 'forbidden',
      file_name: 'notes.md',
    });
    expect(read).not.toContain('notes of forbidden');
    await expect(client.readResource({ uri: 'skill://forbidden/SKILL.md' })).rejects.toThrow();
    const allowed = await client.readResource({ uri: 'skill://allowed-one/notes.md' });
    expect(JSON.stringify(allowed.contents)).toContain('notes of allowed-one');
  });
});
