import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { connectMcp, resultText, type McpTransportKind } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

/**
 * An API key restricted to some skills, end to end: created through /api/v1/api-keys, used by the official SDK
 * client over /mcp (2026-07-28 era), the 2025 era and legacy SSE. The key sees and calls only its skills' tools;
 * another skill answers exactly like a missing one.
 */
let t: TestServer;
let restricted: string;
let unrestricted: string;
beforeAll(async () => {
  t = await startTestServer();
  const owner = await registerUser(new Api(t.baseUrl), 'restrictowner');
  for (const name of ['allowed-one', 'allowed-two', 'forbidden']) {
    expect((await owner.api.post('/api/v1/skills', await skillZip(name, `The ${name} skill.`))).status).toBe(
      201,
    );
  }
  const create = async (restriction: { skills: string[] } | null) => {
    const res = await owner.api.post('/api/v1/api-keys', { name: 'k', can_use_mcp: true, restriction });
    expect(res.status).toBe(201);
    return res.body.token as string;
  };
  restricted = await create({ skills: ['allowed-one', 'allowed-two'] });
  unrestricted = await create(null);
});
afterAll(() => t?.close());

describe.each(['modern', 'legacy-http', 'sse'] as McpTransportKind[])('a restricted key over %s', (kind) => {
  it('lists only its skills and refuses the others like missing ones', async () => {
    const client = await connectMcp(t.baseUrl, restricted, kind);
    try {
      const metadata = resultText(await client.callTool({ name: 'load_skill_metadata', arguments: {} }));
      expect(metadata).toContain('allowed-one');
      expect(metadata).toContain('allowed-two');
      expect(metadata).not.toContain('forbidden');

      const allowed = await client.callTool({ name: 'load_skill', arguments: { skill_name: 'allowed-one' } });
      expect(allowed.isError).toBeFalsy();
      expect(resultText(allowed)).toContain('Instructions for allowed-one');

      const refused = await client.callTool({ name: 'load_skill', arguments: { skill_name: 'forbidden' } });
      const missing = await client.callTool({
        name: 'load_skill',
        arguments: { skill_name: 'never-existed' },
      });
      expect(refused.isError).toBe(true);
      expect(resultText(refused).replaceAll('forbidden', 'X')).toBe(
        resultText(missing).replaceAll('never-existed', 'X'),
      );
      const read = await client.callTool({
        name: 'read_reference_file',
        arguments: { skill_name: 'forbidden', file_name: 'SKILL.md' },
      });
      expect(read.isError).toBe(true);
      const search = resultText(
        await client.callTool({ name: 'search_skills', arguments: { query: 'skill' } }),
      );
      expect(search).not.toContain('forbidden');

      const listed = await new SkillsClient(client).list();
      expect(listed.skills.map((s) => s.uri).sort()).toEqual([
        'skill://allowed-one/SKILL.md',
        'skill://allowed-two/SKILL.md',
      ]);
    } finally {
      await client.close();
    }
  });

  it('leaves an unrestricted key of the same user seeing everything', async () => {
    const client = await connectMcp(t.baseUrl, unrestricted, kind);
    try {
      const metadata = resultText(await client.callTool({ name: 'load_skill_metadata', arguments: {} }));
      expect(metadata).toContain('forbidden');
    } finally {
      await client.close();
    }
  });
});
