/**
 * Text no store can hold (NUL, lone surrogates) in every string argument of every tool the server lists, and in
 * Skills-over-MCP URIs and cursors: each is a clear error for the model, never "Internal error".
 */
import type { Client } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { HOSTILE_CURSORS, POISONS, poisonedVariants, type JsonSchema } from '../helpers/poison.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { mcpUser, uploadSkill } from './fixtures.js';

let t: TestServer;
let client: Client;

beforeAll(async () => {
  t = await startTestServer();
  const alice = await mcpUser(new Api(t.baseUrl), 'textmcp');
  await uploadSkill(alice.api, 'demo', 'A demo skill.');
  client = await connectMcp(t.baseUrl, alice.token);
});
afterAll(async () => {
  await client?.close();
  await t?.close();
});

describe('tool arguments', () => {
  it('refuses each poisoned string argument of every tool with a tool error naming it', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    expect(names).toEqual(
      expect.arrayContaining(['load_skill', 'read_reference_file', 'search_skills', 'run_shell_command']),
    );
    const failures: string[] = [];
    let calls = 0;
    for (const tool of tools) {
      for (const [kind, poison] of Object.entries(POISONS)) {
        for (const v of poisonedVariants(tool.inputSchema as JsonSchema, poison)) {
          calls++;
          const result: any = await client.callTool({ name: tool.name, arguments: v.value as any });
          const text = resultText(result);
          if (result.isError !== true || !text.startsWith(`Invalid argument ${v.field}: it must not contain`))
            failures.push(`${tool.name} ${kind} in ${v.field}: ${text.slice(0, 160)}`);
        }
      }
    }
    // skill_name ×3 tools + file_name, query, command, files.0.path, files.0.content: at least 8 fields × 3.
    expect(calls).toBeGreaterThanOrEqual(24);
    expect(failures).toEqual([]);
  });

  it('still serves the same calls with clean arguments', async () => {
    const loaded: any = await client.callTool({ name: 'load_skill', arguments: { skill_name: 'demo' } });
    expect(loaded.isError).toBeFalsy();
    expect(resultText(loaded)).toContain('Instructions for demo');
  });
});

describe('Skills-over-MCP resources', () => {
  it('answers a skill:// URI holding a NUL as not found, not as an internal error', async () => {
    const err = await client.readResource({ uri: 'skill://de%00mo/SKILL.md' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).not.toMatch(/internal/i);
    expect(err!.message).toMatch(/not found/i);
  });

  it('refuses every hostile listing cursor as invalid, not as an internal error', async () => {
    const skills = new SkillsClient(client);
    for (const cursor of Object.values(HOSTILE_CURSORS)) {
      const err = await skills.list({ cursor }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/invalid cursor/i);
    }
  });
});

it('logged no failed tool call', () => {
  expect(t.logs.filter((l) => l.includes('"tool failed"') || l.includes('unhandled error'))).toEqual([]);
});
