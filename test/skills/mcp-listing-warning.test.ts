/**
 * A skill whose frontmatter breaks the Agent Skills spec is accepted (lenient hosts must not reject it), but the
 * Skills-over-MCP extension leaves it out of `skills/list`: the upload warns its owner, in words, and the skill and
 * version views keep the warning. The listing is checked with the SDK's own SkillsClient, so the warning's claim is
 * tested against the real behaviour.
 */
import type { Client } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { connectMcp } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { yazlZip } from '../helpers/zips.js';
import { callText, mcpUser, type McpUser } from '../mcp/fixtures.js';

const UNLISTED = "MCP clients' skills/list will not show this skill";
const LONG = `Turns notes into reports. ${'Use it for anything. '.repeat(50)}`.trim(); // > 1,024 characters

let t: TestServer;
let owner: McpUser;
let client: Client;

const skillMd = (name: string, frontmatter: string) =>
  `---\nname: ${name}\n${frontmatter}\n---\n# ${name}\n\nInstructions.\n`;
const uploadMd = async (name: string, frontmatter: string, path = '/api/v1/skills') => {
  const res = await owner.api.post(
    path,
    await yazlZip([{ path: `${name}/SKILL.md`, data: skillMd(name, frontmatter) }]),
  );
  expect(res.status, res.text).toBe(201);
  return res.body as { skill: { warnings: string[] }; version: { warnings: string[] }; warnings: string[] };
};
const unlistedWarning = (warnings: string[]) => warnings.find((w) => w.startsWith(UNLISTED));

beforeAll(async () => {
  t = await startTestServer();
  owner = await mcpUser(new Api(t.baseUrl), 'listowner');
  client = await connectMcp(t.baseUrl, owner.token);
}, 60_000);
afterAll(async () => {
  await client?.close();
  await t?.close();
});

describe('upload warnings for skills MCP skills/list leaves out', () => {
  it('warns about a description over 1,024 characters, and the skill is indeed missing from skills/list', async () => {
    expect(LONG.length).toBeGreaterThan(1024);
    const up = await uploadMd('long-description', `description: ${JSON.stringify(LONG)}`);
    const warning = unlistedWarning(up.warnings);
    expect(warning).toContain(`description is ${LONG.length} characters, over the limit of 1024`);
    expect(warning).toContain('Skills-over-MCP');
    expect(warning).toContain('load_skill_metadata');
    // the skill and its version keep the warning for the console
    expect(unlistedWarning(up.skill.warnings)).toBe(warning);
    expect(unlistedWarning(up.version.warnings)).toBe(warning);
    const versions = await owner.api.get('/api/v1/skills/long-description/versions');
    expect(unlistedWarning(versions.body.items[0].warnings)).toBe(warning);

    await uploadMd('well-formed', 'description: A tidy skill. Use it when testing.');
    const listing = await new SkillsClient(client).list();
    const uris = listing.skills.map((s) => s.uri);
    expect(uris).toContain('skill://well-formed/SKILL.md');
    expect(uris).not.toContain('skill://long-description/SKILL.md');
    // ...while the tools still offer it
    expect(await callText(client, 'load_skill_metadata')).toContain('- long-description:');
  });

  it.each([
    ['a non-ASCII name', 'café-notes', 'description: Notes.', /name "café-notes" is not ASCII/],
    [
      'metadata that is not all strings',
      'number-metadata',
      'description: N.\nmetadata:\n  version: 2',
      /metadata/,
    ],
    ['an empty compatibility', 'empty-compat', 'description: C.\ncompatibility: ""', /compatibility/],
    [
      'an over-long compatibility',
      'long-compat',
      `description: C.\ncompatibility: ${'x'.repeat(501)}`,
      /compat/,
    ],
  ])('warns about %s, and skills/list leaves it out', async (_what, name, frontmatter, problem) => {
    const up = await uploadMd(name, frontmatter);
    expect(unlistedWarning(up.warnings)).toMatch(problem);
    const listing = await new SkillsClient(client).list();
    expect(listing.skills.map((s) => s.uri)).not.toContain(`skill://${name}/SKILL.md`);
  });

  it('gives no such warning to a skill that is listed, and drops it once a fixed version is uploaded', async () => {
    const ok = await uploadMd(
      'tidy-skill',
      'description: Tidy.\ncompatibility: Python 3\nmetadata:\n  a: "1"',
    );
    expect(unlistedWarning(ok.warnings)).toBeUndefined();

    await uploadMd('fix-me', `description: ${JSON.stringify(LONG)}`);
    const fixed = await uploadMd('fix-me', 'description: Short now.', '/api/v1/skills/fix-me/versions');
    expect(unlistedWarning(fixed.warnings)).toBeUndefined();
    expect(unlistedWarning(fixed.skill.warnings)).toBeUndefined();
    const uris = (await new SkillsClient(client).list()).skills.map((s) => s.uri);
    expect(uris).toEqual(expect.arrayContaining(['skill://tidy-skill/SKILL.md', 'skill://fix-me/SKILL.md']));
  });
});
