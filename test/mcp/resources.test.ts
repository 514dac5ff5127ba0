/**
 * Skills over MCP (SEP-2640) with the SDK's SkillsClient, which verifies every file against the sha256 digests of
 * the listing; and list-changed notifications reaching only the user whose skills changed.
 */
import type { Client } from '@modelcontextprotocol/client';
import { SkillsClient, type Skill } from '@modelcontextprotocol/client/ext/skills';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { connectMcp, type McpTransportKind } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { yazlZip } from '../helpers/zips.js';
import { binaryBytes, deferred, mcpUser, patchSkill, upload, uploadSkill, type McpUser } from './fixtures.js';

let t: TestServer;
let admin: McpUser;
let alice: McpUser;
let bob: McpUser;
const png = binaryBytes(20_000, 3);
const latin1Md = Buffer.from([0x23, 0x20, 0x63, 0x61, 0x66, 0xe9, 0x0a]); // "# café" in Latin-1: not UTF-8
const files: Record<string, Buffer> = {
  'SKILL.md': Buffer.from(
    '---\nname: report-kit\ndescription: >\n  Build reports from data.\n  Use for quarterly reports.\nlicense: MIT\nmetadata:\n  version: "1.2"\n---\n# Report kit\n\nSee references/guide.md.\n',
  ),
  'references/guide.md': Buffer.from('# Guide\n\nStep one.\n'),
  'references/legacy.md': latin1Md,
  'scripts/build.py': Buffer.from('print("build")\n'),
  'assets/logo.png': png,
  'data/sample.json': Buffer.from('{"a": 1}\n'),
};

beforeAll(async () => {
  t = await startTestServer();
  const anon = new Api(t.baseUrl);
  admin = await mcpUser(anon, 'resadmin');
  alice = await mcpUser(anon, 'resalice');
  bob = await mcpUser(anon, 'resbob');
  await upload(
    alice.api,
    await yazlZip(
      Object.entries(files).map(([path, data]) => ({
        path: `report-kit/${path}`,
        data,
        mode: path.endsWith('.py') ? 0o100755 : 0o100644,
      })),
    ),
  );
  await uploadSkill(alice.api, 'alice-notes', 'Alice keeps notes.');
  await uploadSkill(bob.api, 'bob-private', 'Bob only.', [{ path: 'secret.txt', data: 'bob secret' }]);
  await uploadSkill(admin.api, 'company-wide', 'Shared with everybody.');
  await patchSkill(admin.api, 'company-wide', { shared: true });
}, 60_000);
afterAll(() => t?.close());

describe.each(['modern', 'legacy-http', 'sse'] as McpTransportKind[])('skills resources over %s', (kind) => {
  let client: Client;
  let skills: SkillsClient;
  beforeAll(async () => {
    client = await connectMcp(t.baseUrl, alice.token, kind);
    skills = new SkillsClient(client);
  });
  afterAll(() => client?.close());

  it('declares the extension and lists own and shared skills with digests', async () => {
    expect(skills.supported).toBe(true);
    const listing = await skills.list();
    expect(listing.invalid).toEqual([]);
    expect(listing.skills.map((s) => s.uri)).toEqual([
      'skill://alice-notes/SKILL.md',
      'skill://company-wide/SKILL.md',
      'skill://report-kit/SKILL.md',
    ]);
    const kit = listing.skills.find((s) => s.uri === 'skill://report-kit/SKILL.md')!;
    const resources = kit.resources as Array<{ uri: string; digest: string; size: number }>;
    expect(resources.map((r) => r.uri).sort()).toEqual(
      Object.keys(files)
        .map((p) => `skill://report-kit/${p}`)
        .sort(),
    );
    for (const r of resources) expect(r.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The verbatim frontmatter (a folded description keeps its newline), so that SKILL.md verifies.
    expect(kit.frontmatter).toMatchObject({
      name: 'report-kit',
      description: 'Build reports from data. Use for quarterly reports.\n',
      license: 'MIT',
      metadata: { version: '1.2' },
    });
  });

  it('reads and verifies every file of a multi-file skill, binary ones included', async () => {
    const { skill } = await skills.get('skill://report-kit/SKILL.md');
    for (const [path, data] of Object.entries(files)) {
      const file = await skills.read(skill, path);
      expect(file.verified, path).toBe(true);
      expect(Buffer.from(file.bytes).equals(data), path).toBe(true);
    }
    const md = await skills.read(skill);
    expect(md.body).toContain('# Report kit');
    expect(md.frontmatter).toMatchObject({ name: 'report-kit' });
    expect((await skills.read(skill, 'assets/logo.png')).text).toBeUndefined();
    expect((await skills.read(skill, 'references/legacy.md')).text).toBeUndefined();
  });

  it("cannot get or read another user's skill", async () => {
    await expect(skills.get('skill://bob-private/SKILL.md')).rejects.toThrow();
    await expect(client.readResource({ uri: 'skill://bob-private/SKILL.md' })).rejects.toThrow(/not found/i);
    await expect(client.readResource({ uri: 'skill://bob-private/secret.txt' })).rejects.toThrow(
      /not found/i,
    );
    // A skill entry forged by the caller does not help either: the server decides what is readable.
    const forged: Skill = {
      uri: 'skill://bob-private/SKILL.md',
      frontmatter: { name: 'bob-private', description: 'x' },
      resources: [{ uri: 'skill://bob-private/secret.txt', digest: `sha256:${'0'.repeat(64)}`, size: 10 }],
    } as Skill;
    await expect(skills.read(forged, 'secret.txt')).rejects.toThrow();
  });
});

describe('list-changed notifications', () => {
  it('over SSE: an upload notifies that user only; a shared change notifies everybody', async () => {
    const aliceClient = await connectMcp(t.baseUrl, alice.token, 'sse');
    const bobClient = await connectMcp(t.baseUrl, bob.token, 'sse');
    try {
      const aliceGot = deferred();
      let aliceCount = 0;
      let bobCount = 0;
      aliceClient.setNotificationHandler('notifications/resources/list_changed', () => {
        aliceCount++;
        aliceGot.resolve();
      });
      const bobGot = deferred();
      bobClient.setNotificationHandler('notifications/resources/list_changed', () => {
        bobCount++;
        bobGot.resolve();
      });

      await uploadSkill(alice.api, 'fresh-skill', 'Uploaded while connected.');
      await aliceGot.promise;
      // One more round trip on bob's stream: a notification sent to him would have arrived before its answer.
      await bobClient.ping();
      expect(bobCount).toBe(0);
      expect(aliceCount).toBe(1);
      const listed = await new SkillsClient(aliceClient).list();
      expect(listed.skills.map((s) => s.uri)).toContain('skill://fresh-skill/SKILL.md');

      await patchSkill(admin.api, 'company-wide', { enabled: false });
      await bobGot.promise;
      expect(bobCount).toBe(1);
    } finally {
      await aliceClient.close();
      await bobClient.close();
    }
  });

  it('over /mcp 2026-07-28: a subscriptions/listen stream gets it, for that user only', async () => {
    const aliceClient = await connectMcp(t.baseUrl, alice.token, 'modern');
    const bobClient = await connectMcp(t.baseUrl, bob.token, 'modern');
    try {
      const aliceGot = deferred();
      let bobCount = 0;
      aliceClient.setNotificationHandler('notifications/resources/list_changed', () => aliceGot.resolve());
      bobClient.setNotificationHandler('notifications/resources/list_changed', () => void bobCount++);
      const aliceSub = await aliceClient.listen({ resourcesListChanged: true });
      const bobSub = await bobClient.listen({ resourcesListChanged: true });
      expect(aliceSub.honoredFilter).toMatchObject({ resourcesListChanged: true });

      await uploadSkill(alice.api, 'fresh-modern', 'Uploaded while listening.');
      await aliceGot.promise;
      // 2026-07-28 has no ping: a tool call is the round trip.
      await bobClient.callTool({ name: 'load_skill_metadata', arguments: {} });
      expect(bobCount).toBe(0);

      await aliceSub.close();
      expect(await aliceSub.closed).toBe('local');
      await bobSub.close();
    } finally {
      await aliceClient.close();
      await bobClient.close();
    }
  });
});
