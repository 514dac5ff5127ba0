/**
 * One rule for a shared skill's versions: its owner sees them all; everybody else sees only the current one, on
 * every route and every MCP tool and resource. An earlier version is indistinguishable from one that never
 * existed.
 */
import type { Client } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

let t: TestServer;
let owner: Api;
let other: Api;
let client: Client;

const v1Files = [{ path: 'old.txt', data: 'OLD-MARKER' }];
const v2Files = [{ path: 'new.txt', data: 'NEW-MARKER' }];

beforeAll(async () => {
  t = await startTestServer();
  const anon = new Api(t.baseUrl);
  owner = (await registerUser(anon, 'verowner')).api; // first user: administrator, may share
  const bob = await registerUser(anon, 'verother');
  other = bob.api;
  const v1 = await skillZip('style', 'House style, first edition.', v1Files, '# Style v1\n\nOLD-BODY\n');
  expect((await owner.post('/api/v1/skills', v1)).status).toBe(201);
  const v2 = await skillZip('style', 'House style, second edition.', v2Files, '# Style v2\n\nNEW-BODY\n');
  expect((await owner.post('/api/v1/skills/style/versions', v2)).status).toBe(201);
  expect((await owner.patch('/api/v1/skills/style', { shared: true })).status).toBe(200);
  client = await connectMcp(t.baseUrl, await createApiToken(other));
});
afterAll(async () => {
  await client?.close();
  await t?.close();
});

describe('REST API', () => {
  it('lists only the current version to another user, every version to the owner', async () => {
    const seen = await other.get('/api/v1/skills/style/versions');
    expect(seen.status).toBe(200);
    expect(seen.body.items.map((v: any) => [v.number, v.is_current])).toEqual([[2, true]]);
    const own = await owner.get('/api/v1/skills/style/versions');
    expect(own.body.items.map((v: any) => v.number)).toEqual([2, 1]);
  });

  it.each([
    ['file tree', (v: string) => `/api/v1/skills/style/versions/${v}/files`],
    ['download', (v: string) => `/api/v1/skills/style/versions/${v}/content`],
    ['file', (v: string) => `/api/v1/skills/style/versions/${v}/files/SKILL.md`],
  ])(
    "answers another user's %s of an earlier version exactly like a version that never existed",
    async (_label, url) => {
      for (const current of ['2', 'latest']) expect((await other.get(url(current))).status).toBe(200);
      const earlier = await other.get(url('1'));
      const never = await other.get(url('9'));
      expect(earlier.status).toBe(404);
      expect(never.status).toBe(404);
      const shape = (b: any) => ({ ...b.error, message: b.error.message.replace(/\d+/, 'N') });
      expect(shape(earlier.body)).toEqual(shape(never.body));
      expect((await owner.get(url('1'))).status).toBe(200);
    },
  );

  it('refuses version changes by another user the same way whether the version exists or not', async () => {
    for (const version of [1, 9]) {
      expect((await other.post('/api/v1/skills/style/rollback', { version })).status).toBe(403);
      expect((await other.delete(`/api/v1/skills/style/versions/${version}`)).status).toBe(403);
    }
  });

  it("serves another user the current version's files and description", async () => {
    const skill = await other.get('/api/v1/skills/style');
    expect(skill.body).toMatchObject({ current_version: 2, description: 'House style, second edition.' });
    expect((await other.get('/api/v1/skills/style/versions/2/files/new.txt')).text).toBe('NEW-MARKER');
    const tree = await other.get('/api/v1/skills/style/versions/latest/files');
    expect(tree.body.files.map((f: any) => f.path).sort()).toEqual(['SKILL.md', 'new.txt']);
  });
});

describe('MCP', () => {
  const call = async (name: string, args: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: args })) as any;

  it('load_skill and read_reference_file give the current version only', async () => {
    const loaded = resultText(await call('load_skill', { skill_name: 'style' }));
    expect(loaded).toContain('NEW-BODY');
    expect(loaded).toContain('new.txt');
    expect(loaded).not.toMatch(/OLD-BODY|old\.txt/);
    const old = await call('read_reference_file', { skill_name: 'style', file_name: 'old.txt' });
    expect(old.isError).toBe(true);
    expect(resultText(old)).not.toContain('OLD-MARKER');
    const current = await call('read_reference_file', { skill_name: 'style', file_name: 'new.txt' });
    expect(resultText(current)).toBe('NEW-MARKER');
  });

  it('run_shell_command works in a copy of the current version', async () => {
    const r = await call('run_shell_command', { skill_name: 'style', command: 'ls' });
    expect(r.isError).toBeFalsy();
    expect(resultText(r)).toMatch(/--- stdout ---\nSKILL\.md\nnew\.txt\n/);
  });

  it('skills/list and resource reads expose the current version only', async () => {
    const skills = new SkillsClient(client);
    const listing = await skills.list();
    const entry = listing.skills.find((s) => s.frontmatter.name === 'style')!;
    const resources = entry.resources as Array<{ uri: string }>; // a listed entry, never "dynamic"
    expect(resources.map((r) => r.uri).sort()).toEqual(['skill://style/SKILL.md', 'skill://style/new.txt']);
    expect(entry.frontmatter.description).toBe('House style, second edition.');
    const err = await client.readResource({ uri: 'skill://style/old.txt' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/not found/i);
  });
});
