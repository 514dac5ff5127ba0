/**
 * Issue 14, item 3: upstream MCP tools are indexed by search. A real MCP server (official SDK, Streamable HTTP,
 * in this process on 127.0.0.1) registered by an administrator through the REST API: its tools are found as
 * `<server>__<tool>` by `/api/v1/search` and the `search_tools` meta-tool for its owner only, for everybody once
 * shared, re-indexed when its definition changes (a description override), and gone once it is deleted.
 */
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Api, registerUser } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startMcpUpstream, type McpUpstream } from '../helpers/mcp-upstream.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';

let t: TestServer;
let alice: Api;
let bob: Api;
let upstream: McpUpstream | undefined;
let serverId: string;

/** A real MCP server (official SDK, Streamable HTTP, stateless) on 127.0.0.1 with two tools. */
async function startUpstream(): Promise<void> {
  const handler = createMcpHandler(() => {
    const s = new McpServer({ name: 'meteo-fixture', version: '1.0.0' });
    s.registerTool(
      'forecast',
      {
        description: 'Predicts tomorrow’s weather for a city',
        inputSchema: z.object({ city: z.string().describe('The city to forecast') }),
      },
      ({ city }) => ({ content: [{ type: 'text', text: `sunny in ${city}` }] }),
    );
    s.registerTool('ping', { description: 'Answers pong', inputSchema: z.object({}) }, () => ({
      content: [{ type: 'text', text: 'pong' }],
    }));
    return s;
  });
  upstream = await startMcpUpstream(handler);
}

/** The tool names a search by `api` finds for `q`. */
const toolsFound = async (api: Api, q: string): Promise<string[]> => {
  const res = await api.get(`/api/v1/search?q=${encodeURIComponent(q)}&kind=tool`);
  expect(res.status, res.text).toBe(200);
  return res.body.results.map((r: { kind: string; name: string }) => {
    expect(r.kind).toBe('tool');
    return r.name;
  });
};

beforeAll(async () => {
  await startUpstream();
  t = await startTestServer();
  alice = (await registerUser(new Api(t.baseUrl), 'idxalice')).api; // the first user: an admin
  bob = (await registerUser(new Api(t.baseUrl), 'idxbob')).api;
  // An administrator's own loopback URL is trusted (see test/assistants/upstream-tools.test.ts).
  const created = await alice.post('/api/v1/mcp-servers', {
    transport: 'streamable-http',
    name: 'meteo',
    url: upstream!.url,
  });
  expect(created.status, created.text).toBe(201);
  expect(created.body.shared).toBe(false);
  serverId = created.body.id;
  await until('the meteo upstream running with its tools', async () => {
    const s = (await alice.get(`/api/v1/mcp-servers/${serverId}`)).body;
    return s?.status === 'running' && s.tools.length === 2;
  });
});
afterAll(async () => {
  await t?.close();
  await upstream?.close();
});

describe('upstream tools in search', () => {
  it('are found by their description for their owner only, over REST and search_tools', async () => {
    await until('meteo__forecast indexed for alice', async () =>
      (await toolsFound(alice, 'weather city')).includes('meteo__forecast'),
    );
    expect(await toolsFound(alice, 'weather')).toEqual(['meteo__forecast']);
    // Indexed (alice finds it): bob, who cannot call it, does not.
    expect(await toolsFound(bob, 'weather')).toEqual([]);

    const key = await alice.post('/api/v1/api-keys', { name: 'k', can_use_mcp: true });
    expect(key.status, key.text).toBe(201);
    const client = await connectMcp(t.baseUrl, key.body.token);
    try {
      const text = resultText(
        await client.callTool({ name: 'search_tools', arguments: { query: 'weather forecast' } }),
      );
      expect(text).toContain('meteo__forecast');
    } finally {
      await client.close();
    }
  });

  it('are found by everybody once the server is shared', async () => {
    const res = await alice.request('PUT', `/api/v1/mcp-servers/${serverId}`, { shared: true });
    expect(res.status, res.text).toBe(200);
    await until('meteo__forecast found by bob', async () =>
      (await toolsFound(bob, 'weather')).includes('meteo__forecast'),
    );
    // One document for everybody: the owner finds it once.
    expect(await toolsFound(alice, 'weather')).toEqual(['meteo__forecast']);
    // Bob hides the shared server: its tools leave his tool list, and so his search.
    expect(
      (await bob.request('PUT', `/api/v1/mcp-servers/${serverId}/hidden`, { hidden: true })).status,
    ).toBe(200);
    expect(await toolsFound(bob, 'weather')).toEqual([]);
    expect(await toolsFound(alice, 'weather')).toEqual(['meteo__forecast']);
  });

  it('are re-indexed when the server’s tools change, and removed with the server', async () => {
    const res = await alice.request('PUT', `/api/v1/mcp-servers/${serverId}`, {
      tool_descriptions: { forecast: 'Tells the tide times of a harbour' },
    });
    expect(res.status, res.text).toBe(200);
    await until('the new description indexed', async () =>
      (await toolsFound(alice, 'tide harbour')).includes('meteo__forecast'),
    );
    expect(await toolsFound(alice, 'weather')).toEqual([]);

    expect((await alice.delete(`/api/v1/mcp-servers/${serverId}`)).status).toBe(204);
    await until('the tools removed from the index', async () => {
      const status = (await alice.get('/api/v1/admin/search')).body;
      return status.documents === 0 && status;
    });
    expect(await toolsFound(alice, 'tide')).toEqual([]);
  });
});
