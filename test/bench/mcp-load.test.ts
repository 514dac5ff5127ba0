/**
 * The MCP benchmark's load generator (bench/mcp-load.ts) counts only successful tool results, whatever the shape
 * of the answer, so that a failing server cannot look fast in the figures.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/mcp-load.js';

const RESULT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  result: { content: [{ type: 'text', text: 'x'.repeat(3000) }] },
});
const TOOL_ERROR = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [], isError: true } });
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'load_skill' } });

let server: http.Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A server answering every request with `answer`; the generator's request bytes as it would send them. */
async function serve(answer: (res: http.ServerResponse) => void) {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const head = `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\n\r\n`;
  return {
    port,
    request: Buffer.from(head + BODY).toString('base64'),
    clients: 2,
    warmup: 4,
    maxCalls: 40,
    seconds: 10,
    serverPid: process.pid,
  };
}

const json = (status: number, body: string) => (res: http.ServerResponse) =>
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    .end(body);

describe('the MCP load generator', () => {
  it('counts JSON answers with a result as successful calls', async () => {
    const result = await runLoad(await serve(json(200, RESULT)));
    expect(result).toMatchObject({ calls: 40, errors: 0, bytes: Buffer.byteLength(RESULT) });
  });

  it('counts tool errors and HTTP errors as failed calls', async () => {
    expect((await runLoad(await serve(json(200, TOOL_ERROR)))).errors).toBe(40);
    await new Promise((resolve) => server!.close(resolve));
    expect((await runLoad(await serve(json(503, RESULT)))).errors).toBe(40);
  });

  it('finds the end of chunked SSE answers, also when they arrive in pieces', async () => {
    const result = await runLoad(
      await serve((res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message\n');
        setImmediate(() => res.end(`data: ${RESULT}\n\n`));
      }),
    );
    expect(result).toMatchObject({ calls: 40, errors: 0 });
  });

  it('counts a connection the server closes as a failed call, and connects again for the next', async () => {
    const result = await runLoad(await serve((res) => res.socket!.destroy()));
    expect(result.errors).toBeGreaterThan(0);
    expect(result.errors).toBe(result.calls);
  });
});
