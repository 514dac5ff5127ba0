import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startLegacyUpstream, type LegacyUpstream } from './fixtures/legacy-servers.js';

let srv: TestServer;
let admin: Api;
let upstream: LegacyUpstream;
let client: Client;

const server = async (name: string) =>
  (await admin.get('/api/v1/mcp-servers')).body.items.find((s: { name: string }) => s.name === name);

beforeAll(async () => {
  upstream = await startLegacyUpstream();
  srv = await startTestServer({ UPSTREAM_HEALTH_INTERVAL_SECONDS: '60' });
  admin = (await registerUser(new Api(srv.baseUrl), 'eraadmin')).api;
  const key = (await admin.post('/api/v1/api-keys', { name: 'mcp', can_use_mcp: true })).body.token;
  for (const body of [
    { transport: 'streamable-http', name: 'legacy', url: upstream.httpUrl, call_timeout_ms: 1500 },
    { transport: 'sse', name: 'oldsse', url: upstream.sseUrl },
  ]) {
    const res = await admin.post('/api/v1/mcp-servers', body);
    expect(res.status, res.text).toBe(201);
  }
  for (const name of ['legacy', 'oldsse'])
    await until(`${name} running`, async () => (await server(name))?.status === 'running');
  client = await connectMcp(srv.baseUrl, key);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await srv?.close();
  await upstream?.close();
});

describe('2025-era upstreams (v1 SDK): stateful Streamable HTTP and SSE', () => {
  it('connects in the legacy era and forwards calls', async () => {
    expect((await server('legacy')).protocol_era).toBe('legacy');
    const r = await client.callTool({ name: 'legacy__ping_back', arguments: { text: 'a' } });
    expect(resultText(r)).toBe('legacy:a');
    expect(resultText(await client.callTool({ name: 'oldsse__ping_back', arguments: { text: 'b' } }))).toBe(
      'legacy:b',
    );
  });

  it('re-initialises once after the upstream restarted ("Session not found") and the call succeeds', async () => {
    const before = upstream.initializations;
    await upstream.restart();
    const r = await client.callTool({ name: 'legacy__ping_back', arguments: { text: 'after' } });
    expect(r.isError ?? false, resultText(r)).toBe(false);
    expect(resultText(r)).toBe('legacy:after');
    expect(upstream.initializations).toBe(before + 1);
    // The SSE upstream lost its stream in the same restart: it reconnects and answers again.
    await until('sse back', async () => {
      const s = await client.callTool({ name: 'oldsse__ping_back', arguments: { text: 'c' } });
      return resultText(s) === 'legacy:c';
    });
  });

  it('ends a hung call at the server call timeout with an error the model can read', async () => {
    const started = Date.now();
    const r = await client.callTool({ name: 'legacy__hang', arguments: {} });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain('did not answer in time');
    expect(Date.now() - started).toBeLessThan(10_000);
    // The connection stays usable.
    expect(resultText(await client.callTool({ name: 'legacy__ping_back', arguments: { text: 'd' } }))).toBe(
      'legacy:d',
    );
  });

  it('cancels the upstream call when the caller gives up', async () => {
    const id = (await server('oldsse')).id;
    const abort = new AbortController();
    const call = client.callTool({ name: 'oldsse__hang', arguments: {} }, { signal: abort.signal });
    setTimeout(() => abort.abort(), 300);
    await expect(call).rejects.toThrow();
    const metrics = await admin.get('/metrics');
    await until('cancelled outcome', async () =>
      (await admin.get('/metrics')).text.includes(
        `skillport_upstream_tool_calls_total{server="${id}",outcome="cancelled"} 1`,
      ),
    );
    expect(metrics.status).toBe(200);
  });
});
