import { useEffect, useRef, useState } from 'react';
import type { KeyboardEvent, ReactNode } from 'react';
import { endpoints } from '../api/endpoints';
import type { ServerInfo } from '../api/types';
import { PageHeader } from '../components/Layout';
import { Alert, Card, CodeBlock, CopyButton, Skeleton, TextField } from '../components/ui';
import { freshToken } from '../lib/freshToken';
import { useDocumentTitle } from '../lib/hooks';
import { Link } from '../router';

const PLACEHOLDER = '<TOKEN>';

function trimSlash(s: string) {
  return s.replace(/\/+$/, '');
}

export function mcpUrlFrom(info: ServerInfo | null): string {
  if (info?.mcp_url) return info.mcp_url;
  return `${trimSlash(info?.public_url || window.location.origin)}/mcp`;
}

interface ClientConfig {
  id: string;
  label: string;
  body: (url: string, token: string) => ReactNode;
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

const CLIENTS: ClientConfig[] = [
  {
    id: 'claude-code',
    label: 'Claude Code',
    body: (url, token) => (
      <>
        <p>
          Run this in a terminal. Add <code>--scope user</code> to make it available in every project.
        </p>
        <CodeBlock
          label="Terminal"
          code={`claude mcp add --transport http skillport ${url} --header "Authorization: Bearer ${token}"`}
        />
      </>
    ),
  },
  {
    id: 'claude-desktop',
    label: 'Claude Desktop',
    body: (url, token) => (
      <>
        <p>
          Open <strong>Settings → Developer → Edit Config</strong> and merge this into{' '}
          <code>claude_desktop_config.json</code> (macOS: <code>~/Library/Application Support/Claude/</code>,
          Windows: <code>%APPDATA%\Claude\</code>). It bridges to the HTTP endpoint with{' '}
          <code>mcp-remote</code>, which needs Node.js. Restart Claude Desktop afterwards.
        </p>
        <CodeBlock
          label="claude_desktop_config.json"
          code={json({
            mcpServers: {
              skillport: {
                command: 'npx',
                args: ['-y', 'mcp-remote', url, '--header', 'Authorization:${SKILLPORT_AUTH}'],
                env: { SKILLPORT_AUTH: `Bearer ${token}` },
              },
            },
          })}
        />
      </>
    ),
  },
  {
    id: 'cursor',
    label: 'Cursor',
    body: (url, token) => (
      <>
        <p>
          Add this to <code>~/.cursor/mcp.json</code> (all projects) or <code>.cursor/mcp.json</code> in a
          project.
        </p>
        <CodeBlock
          label="~/.cursor/mcp.json"
          code={json({ mcpServers: { skillport: { url, headers: { Authorization: `Bearer ${token}` } } } })}
        />
      </>
    ),
  },
  {
    id: 'vscode',
    label: 'VS Code',
    body: (url, token) => (
      <>
        <p>
          Add this to <code>.vscode/mcp.json</code> in your workspace (or run{' '}
          <strong>MCP: Open User Configuration</strong> for all workspaces), then start the server from the
          file.
        </p>
        <CodeBlock
          label=".vscode/mcp.json"
          code={json({
            servers: { skillport: { type: 'http', url, headers: { Authorization: `Bearer ${token}` } } },
          })}
        />
      </>
    ),
  },
  {
    id: 'other',
    label: 'Other clients',
    body: (url, token) => (
      <>
        <p>
          Any client that speaks MCP over Streamable HTTP works. Point it at the URL below and send your token
          as a bearer token.
        </p>
        <CodeBlock
          label="Generic MCP server entry"
          code={json({
            type: 'http',
            url,
            headers: { Authorization: `Bearer ${token === PLACEHOLDER ? 'ask_live_…' : token}` },
          })}
        />
      </>
    ),
  },
];

export function ConnectPage() {
  useDocumentTitle('Connect a client');
  const [info, setInfo] = useState<ServerInfo | null>(null);
  const [infoLoaded, setInfoLoaded] = useState(false);
  const fresh = freshToken.get();
  const [token, setToken] = useState(fresh?.token ?? '');

  useEffect(() => {
    endpoints
      .info()
      .then(setInfo, () => setInfo(null))
      .finally(() => setInfoLoaded(true));
  }, []);

  const url = mcpUrlFrom(info);
  const tok = token.trim() || PLACEHOLDER;
  const tokenLooksWrong = token.trim() !== '' && /\s/.test(token.trim());

  return (
    <>
      <PageHeader
        title="Connect a client"
        description="Skillport speaks MCP over Streamable HTTP. Paste one of these configurations into your client; it will see every enabled skill in your library."
      />
      <Card headingId="server-heading" title="Your server">
        <div className="connect-url">
          <span className="muted">MCP endpoint</span>
          {infoLoaded ? <code className="url-value">{url}</code> : <Skeleton height={20} className="w-60" />}
          <CopyButton text={url} label="Copy URL" />
        </div>
        <p className="muted small">
          Clients that can sign in (the MCP authorization flow, OAuth) need only this URL: they open a browser
          window where you approve them, and they appear under Connected applications on the{' '}
          <Link to="/tokens">API tokens</Link> page. Every other client uses a token, as below.
        </p>
        <TextField
          label="Token to insert"
          name="token"
          autoComplete="off"
          spellCheck={false}
          placeholder="ask_live_…"
          value={token}
          onChange={(e) => setToken(e.currentTarget.value)}
          error={tokenLooksWrong ? 'Tokens have no spaces; paste only the token.' : null}
          hint={
            fresh && token === fresh.token ? (
              <>Filled in with the token “{fresh.name}” you just created. It is not stored anywhere.</>
            ) : (
              <>
                Optional: paste a key with the <strong>MCP</strong> permission, or keep{' '}
                <code>{PLACEHOLDER}</code> and replace it later. <Link to="/tokens">Create a token</Link>.
              </>
            )
          }
        />
      </Card>

      <ClientTabs url={url} tok={tok} />
    </>
  );
}

/** One configuration per client, as tabs (arrow keys, Home and End move between them). */
function ClientTabs({ url, tok }: { url: string; tok: string }) {
  const [tab, setTab] = useState(CLIENTS[0]!.id);
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});

  const onKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const i = CLIENTS.findIndex((c) => c.id === tab);
    let next = -1;
    if (e.key === 'ArrowRight') next = (i + 1) % CLIENTS.length;
    else if (e.key === 'ArrowLeft') next = (i - 1 + CLIENTS.length) % CLIENTS.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = CLIENTS.length - 1;
    if (next < 0) return;
    e.preventDefault();
    const id = CLIENTS[next]!.id;
    setTab(id);
    tabRefs.current[id]?.focus();
  };

  const active = CLIENTS.find((c) => c.id === tab) ?? CLIENTS[0]!;

  return (
    <Card headingId="clients-heading" title="Configuration">
      <div className="tabs" role="tablist" aria-label="MCP client">
        {CLIENTS.map((c) => (
          <button
            key={c.id}
            ref={(el) => {
              tabRefs.current[c.id] = el;
            }}
            type="button"
            role="tab"
            id={`tab-${c.id}`}
            aria-selected={tab === c.id}
            aria-controls={`panel-${c.id}`}
            tabIndex={tab === c.id ? 0 : -1}
            onClick={() => setTab(c.id)}
            onKeyDown={onKey}
          >
            {c.label}
          </button>
        ))}
      </div>
      <div
        className="tab-panel"
        role="tabpanel"
        id={`panel-${active.id}`}
        aria-labelledby={`tab-${active.id}`}
        tabIndex={0}
      >
        {active.body(url, tok)}
        {tok === PLACEHOLDER && (
          <Alert kind="info">
            Replace <code>{active.id === 'other' ? 'ask_live_…' : PLACEHOLDER}</code> with one of your tokens,
            or paste a token above to fill it in.
          </Alert>
        )}
      </div>
    </Card>
  );
}
