import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

export type McpTransportKind = 'modern' | 'legacy-http' | 'sse';

/** Connects the official SDK client to a running server with a bearer token, over the chosen transport. */
export async function connectMcp(
  baseUrl: string,
  token: string,
  kind: McpTransportKind = 'modern',
): Promise<Client> {
  const headers = { Authorization: `Bearer ${token}` };
  const client = new Client(
    { name: 'skillport-test', version: '1.0.0' },
    kind === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  const transport =
    kind === 'sse'
      ? new SSEClientTransport(new URL(`${baseUrl}/sse`), {
          requestInit: { headers },
          eventSourceInit: {
            fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers ?? {}), ...headers } }),
          },
        })
      : new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  return client;
}

/** The text of a tool result's first content block. */
export function resultText(result: any): string {
  const first = result?.content?.[0];
  return first?.type === 'text' ? first.text : '';
}
