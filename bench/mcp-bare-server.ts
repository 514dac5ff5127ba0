/**
 * The bare SDK v2 server of `bench/mcp.bench.ts`, in a process of its own: `createMcpHandler` with one in-memory
 * `load_skill` tool (its schema built once) returning BARE_TEXT_BYTES of text, a constant-time bearer check (BARE_TOKEN), served by
 * @hono/node-server on node:http at 127.0.0.1:PORT. Prints `listening` when it is.
 */
import { timingSafeEqual } from 'node:crypto';
import { serve } from '@hono/node-server';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { withCachedJsonSchema } from '../src/tools/schema.js';

const text = 'x'.repeat(Number(process.env.BARE_TEXT_BYTES ?? 4000));
const expected = Buffer.from(`Bearer ${process.env.BARE_TOKEN ?? ''}`);

// Built once, with its JSON Schema kept (as Skillport's tools are): otherwise the SDK converts the schema on every
// 2026-07-28 `tools/call` (its header checks), ~3 ms a call on a busy machine, and the baseline would be the slower.
const inputSchema = withCachedJsonSchema(z.object({ skill_name: z.string() }));

const handler = createMcpHandler(() => {
  const server = new McpServer({ name: 'bare', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('load_skill', { description: 'Returns a fixed text.', inputSchema }, async () => ({
    content: [{ type: 'text', text }],
  }));
  return server;
});

const authorized = (req: Request) => {
  const presented = Buffer.from(req.headers.get('authorization') ?? '');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
};

serve(
  {
    fetch: (req) =>
      new URL(req.url).pathname === '/health'
        ? new Response('ok')
        : authorized(req)
          ? handler.fetch(req)
          : new Response('unauthorized', { status: 401 }),
    port: Number(process.env.PORT),
    hostname: '127.0.0.1',
  },
  () => console.log('listening'),
);
process.once('SIGTERM', () => process.exit(0));
