/**
 * docs/mcp-clients.md: every JSON snippet parses, and the HTTP ones work against a live server when pasted as
 * they are (only the placeholder URL and token substituted).
 */
import { readFileSync } from 'node:fs';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { callText, mcpUser, uploadSkill, type McpUser } from './fixtures.js';

const DOC = readFileSync('docs/mcp-clients.md', 'utf8');
const PLACEHOLDER_URL = 'https://skillport.example.com';
const PLACEHOLDER_TOKEN = 'ask_live_…';

const blocks = (lang: string) =>
  [...DOC.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
const snippets = blocks('json').map((text) => JSON.parse(text) as any);

let t: TestServer;
let alice: McpUser;

beforeAll(async () => {
  t = await startTestServer();
  alice = await mcpUser(new Api(t.baseUrl), 'docsalice');
  await uploadSkill(alice.api, 'docs-check', 'Proves the pasted config reached the right account.');
}, 60_000);
afterAll(() => t?.close());

/** What a user does when pasting: put in their server's URL and their token, nothing else. */
function paste<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value).replaceAll(PLACEHOLDER_URL, t.baseUrl).replaceAll(PLACEHOLDER_TOKEN, alice.token),
  );
}

async function expectWorks(transport: StreamableHTTPClientTransport | SSEClientTransport) {
  const client = new Client({ name: 'docs-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    expect(await callText(client, 'load_skill_metadata')).toContain('- docs-check: Proves the pasted config');
  } finally {
    await client.close();
  }
}

const httpTransport = (server: { url: string; headers: Record<string, string> }) =>
  new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: server.headers } });

describe('docs/mcp-clients.md', () => {
  it('has only valid JSON snippets, all using the placeholders', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(8);
    for (const s of snippets) {
      const text = JSON.stringify(s);
      if (text.includes('"url"') || text.includes('mcp-remote')) expect(text).toContain(PLACEHOLDER_URL);
    }
  });

  it('the generic {"type": "http", "url", "headers"} snippet works as pasted', async () => {
    const generic = snippets.find((s) => s.type === 'http' && typeof s.url === 'string');
    expect(generic).toEqual({
      type: 'http',
      url: `${PLACEHOLDER_URL}/mcp`,
      headers: { Authorization: `Bearer ${PLACEHOLDER_TOKEN}` },
    });
    await expectWorks(httpTransport(paste(generic)));
  });

  it('the Claude Code, Cursor and VS Code snippets work as pasted', async () => {
    const claude = snippets.find((s) => s.mcpServers?.skillport?.type === 'http');
    const cursor = snippets.find((s) => s.mcpServers?.skillport?.url && !s.mcpServers.skillport.type);
    const vscode = snippets.find((s) => s.servers?.skillport);
    expect(claude && cursor && vscode).toBeTruthy();
    await expectWorks(httpTransport(paste(claude.mcpServers.skillport)));
    await expectWorks(httpTransport(paste(cursor.mcpServers.skillport)));
    // VS Code fills ${input:…} from the prompt the inputs entry declares.
    const input = vscode.inputs[0];
    expect(input).toMatchObject({ type: 'promptString', password: true });
    const server = paste(vscode.servers.skillport);
    server.headers.Authorization = server.headers.Authorization.replace(`\${input:${input.id}}`, alice.token);
    expect(server.type).toBe('http');
    await expectWorks(httpTransport(server));
  });

  it('the claude mcp add command names the same URL and header', () => {
    const sh = blocks('sh').find((b) => b.startsWith('claude mcp add'))!;
    expect(sh).toContain('--transport http skillport https://skillport.example.com/mcp');
    expect(sh).toContain('--header "Authorization: Bearer ask_live_…"');
  });

  it('the legacy SSE snippet works as pasted', async () => {
    const sse = paste(snippets.find((s) => s.type === 'sse'));
    expect(sse.url).toBe(`${t.baseUrl}/sse`);
    await expectWorks(
      new SSEClientTransport(new URL(sse.url), {
        requestInit: { headers: sse.headers },
        eventSourceInit: {
          fetch: (url, init) =>
            fetch(url, { ...init, headers: { ...(init?.headers ?? {}), ...sse.headers } }),
        },
      }),
    );
  });

  it('the Claude Desktop bridge passes the header through its environment', () => {
    const desktop = snippets.find((s) => s.mcpServers?.skillport?.command === 'npx').mcpServers.skillport;
    expect(desktop.args).toContain(`${PLACEHOLDER_URL}/mcp`);
    const header = desktop.args[desktop.args.indexOf('--header') + 1] as string;
    const variable = /^Authorization:\$\{(\w+)\}$/.exec(header)![1]!;
    expect(desktop.env[variable]).toBe(`Bearer ${PLACEHOLDER_TOKEN}`);
  });

  it('the stdio snippets run the installed `skillport stdio --skills-dir`, as the README says', () => {
    // test/ops/package.test.ts runs the README's form from the installed package, outside the checkout.
    const readme = [...readFileSync('README.md', 'utf8').matchAll(/```json\n([\s\S]*?)```/g)]
      .map((m) => JSON.parse(m[1]!))
      .find((s) => s.mcpServers?.skills?.args?.[0] === 'stdio').mcpServers.skills;
    const asInReadme = {
      command: readme.command,
      args: readme.args.map((a: string) => (a === '/home/me/skills' ? '/path/to/skills' : a)),
    };
    expect(asInReadme).toEqual({ command: 'skillport', args: ['stdio', '--skills-dir', '/path/to/skills'] });
    const stdio = snippets.filter((s) => s.command === 'skillport' || s.mcpServers?.skills);
    expect(stdio).toEqual([asInReadme, { mcpServers: { skills: asInReadme } }]);
  });
});
