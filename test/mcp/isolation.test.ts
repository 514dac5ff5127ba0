/**
 * Two users with skills of the same names (different content) and private skills of their own hammer the server
 * concurrently over every transport; no answer may ever carry the other user's data.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { connectMcp, type McpTransportKind } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { mcpUser, uploadSkill, type McpUser } from './fixtures.js';

const SHARED_NAMES = ['common-alpha', 'common-beta', 'common-gamma'];
const CALLS_PER_USER = 300;
const BATCH = 40;

interface Side {
  who: string;
  user: McpUser;
  marker: string;
  privateSkill: string;
  clients: Client[];
}

let t: TestServer;
let sides: [Side, Side];

beforeAll(async () => {
  t = await startTestServer();
  const anon = new Api(t.baseUrl);
  await mcpUser(anon, 'isoadmin'); // the first user is the administrator; keep the two under test ordinary
  const make = async (who: string): Promise<Side> => {
    const user = await mcpUser(anon, `iso${who}`);
    const marker = `${who.toUpperCase()}-MARKER-${Math.random().toString(36).slice(2, 10)}`;
    for (const name of SHARED_NAMES) {
      await uploadSkill(
        user.api,
        name,
        `The ${name} skill as ${marker} wrote it.`,
        [{ path: 'references/notes.md', data: `${name} notes of ${marker}\n` }],
        `# ${name}\n\nInstructions by ${marker}.\n`,
      );
    }
    const privateSkill = `${who}-private-plans`;
    await uploadSkill(user.api, privateSkill, `Private plans of ${marker}.`, [
      { path: 'plan.txt', data: `secret plan ${marker}` },
    ]);
    return { who, user, marker, privateSkill, clients: [] };
  };
  sides = [await make('alice'), await make('bob')];
  const kinds: McpTransportKind[] = ['modern', 'legacy-http', 'sse'];
  for (const side of sides) {
    for (const kind of kinds) side.clients.push(await connectMcp(t.baseUrl, side.user.token, kind));
  }
}, 60_000);
afterAll(async () => {
  for (const side of sides ?? []) for (const c of side.clients) await c.close();
  await t?.close();
});

/** The i-th call of one side: a mix of every tool, over a rotating transport. */
function nthCall(side: Side, i: number): { client: Client; name: string; args: Record<string, unknown> } {
  const client = side.clients[i % side.clients.length]!;
  const skill = SHARED_NAMES[i % SHARED_NAMES.length]!;
  switch (i % 7) {
    case 0:
      return { client, name: 'load_skill_metadata', args: {} };
    case 1:
      return { client, name: 'load_skill', args: { skill_name: skill } };
    case 2:
      return {
        client,
        name: 'read_reference_file',
        args: { skill_name: skill, file_name: 'references/notes.md' },
      };
    case 3:
      return { client, name: 'search_skills', args: { query: 'skill', limit: 10 } };
    case 4:
      return { client, name: 'load_skill', args: { skill_name: side.privateSkill } };
    case 5:
      return {
        client,
        name: 'read_reference_file',
        args: { skill_name: side.privateSkill, file_name: 'plan.txt' },
      };
    default:
      // A near-miss of the *other* user's private skill: the suggestions must not reveal it.
      return { client, name: 'load_skill', args: { skill_name: 'private-plans' } };
  }
}

describe('isolation under concurrency', () => {
  it(`${CALLS_PER_USER} interleaved calls per user never see the other user's data`, async () => {
    const jobs: Array<{ side: Side; other: Side; run: () => Promise<any> }> = [];
    for (let i = 0; i < CALLS_PER_USER; i++) {
      for (const [side, other] of [
        [sides[0], sides[1]],
        [sides[1], sides[0]],
      ] as const) {
        const c = nthCall(side, i);
        jobs.push({ side, other, run: () => c.client.callTool({ name: c.name, arguments: c.args }) });
      }
    }
    let checked = 0;
    let ownMarkerSeen = 0;
    for (let i = 0; i < jobs.length; i += BATCH) {
      const batch = jobs.slice(i, i + BATCH);
      const results = await Promise.all(batch.map((j) => j.run()));
      results.forEach((result, k) => {
        const { side, other } = batch[k]!;
        const text = JSON.stringify(result);
        expect(text).not.toContain(other.marker);
        expect(text).not.toContain(other.privateSkill);
        if (text.includes(side.marker)) ownMarkerSeen++;
        checked++;
      });
    }
    expect(checked).toBe(2 * CALLS_PER_USER);
    // Most calls answer with the caller's own content (not just empty answers).
    expect(ownMarkerSeen).toBeGreaterThan(CALLS_PER_USER);
  });

  it("suggestions for a near-miss name list only the caller's own skills", async () => {
    const [alice, bob] = sides;
    const r: any = await alice.clients[0]!.callTool({
      name: 'load_skill',
      arguments: { skill_name: 'bob-private-plan' },
    });
    expect(r.isError).toBe(true);
    expect(r.content[0].text).not.toContain(bob.privateSkill);
    expect(r.content[0].text).toContain(alice.privateSkill);
  });
});
