/**
 * A real upstream MCP server for the connector's tests: the official SDK v2 handler (`createMcpHandler`: both eras,
 * stateless) served on 127.0.0.1 by node:http. Answers are streamed as they are produced, never buffered: an SSE
 * answer (a subscription stream, a streamed tool result) that were read to its end first would hold the caller's
 * connection open until its own timeout.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { createMcpHandler } from '@modelcontextprotocol/server';

export interface McpUpstream {
  server: Server;
  /** The Streamable HTTP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  close(): Promise<void>;
}

export interface McpUpstreamOptions {
  /** A header every request must carry with this value; other requests get 401. */
  requireHeader?: { name: string; value: string };
}

const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

export async function startMcpUpstream(
  handler: ReturnType<typeof createMcpHandler>,
  options: McpUpstreamOptions = {},
): Promise<McpUpstream> {
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const required = options.requireHeader;
    if (required && headers.get(required.name) !== required.value) {
      res.writeHead(401).end('bad key');
      return;
    }
    const response = await handler.fetch(
      new Request(`http://127.0.0.1${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(body),
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    const reader = response.body?.getReader();
    for (let r = await reader?.read(); r && !r.done; r = await reader!.read()) res.write(r.value);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/mcp`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
