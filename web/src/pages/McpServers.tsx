import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { endpoints } from '../api/endpoints';
import type { McpServer } from '../api/types';
import { useAuth } from '../auth';
import { ConfirmDialog } from '../components/Dialog';
import { PageHeader } from '../components/Layout';
import { toast } from '../components/Toaster';
import {
  Badge,
  Button,
  Card,
  ErrorRetry,
  ErrorText,
  FormError,
  SelectField,
  Switch,
  TextArea,
  TextField,
} from '../components/ui';
import { useAction, useAsync, useDocumentTitle, useRowActions } from '../lib/hooks';

/** How often the list refreshes its live status: often while a server is starting, else every 5 s. */
const POLL_MS = 5_000;
const POLL_STARTING_MS = 1_000;
const MASK = '••••••••';
const STATUS_TONE = { running: 'success', starting: 'accent', stopped: 'neutral', error: 'danger' } as const;

/** "NAME=value" lines ↔ a map; a masked value is sent back as the mask, which keeps the stored secret. */
const parsePairs = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => [
        l.slice(0, l.indexOf('=') < 0 ? l.length : l.indexOf('=')).trim(),
        l.slice(l.indexOf('=') + 1),
      ]),
  );
const pairsText = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** Upstream MCP servers: live status, add/edit, start/stop, stderr, tool allow/deny, hiding shared ones. */
export function McpServersPage() {
  useDocumentTitle('MCP servers');
  const list = useAsync(() => endpoints.listMcpServers(), []);
  const [editing, setEditing] = useState<McpServer | 'new' | null>(null);
  const servers = list.data?.items ?? [];
  const starting = servers.some((s) => s.status === 'starting');
  useEffect(() => {
    const t = setInterval(list.reload, starting ? POLL_STARTING_MS : POLL_MS);
    return () => clearInterval(t);
  }, [list.reload, starting]);
  return (
    <>
      <PageHeader
        title="MCP servers"
        description="Upstream MCP servers whose tools you get next to your skills, as <server>__<tool>."
        actions={
          <Button variant="primary" onClick={() => setEditing('new')}>
            Add a server
          </Button>
        }
      />
      {list.error ? <ErrorRetry error={list.error} onRetry={list.reload} /> : null}
      {!list.loading && servers.length === 0 ? <p>No MCP servers yet.</p> : null}
      {servers.map((s) => (
        <ServerCard key={s.id} server={s} onChanged={list.reload} onEdit={() => setEditing(s)} />
      ))}
      {editing ? (
        <ServerForm
          server={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            list.reload();
          }}
        />
      ) : null}
    </>
  );
}

function ServerCard({
  server: s,
  onChanged,
  onEdit,
}: {
  server: McpServer;
  onChanged: () => void;
  onEdit: () => void;
}) {
  const rows = useRowActions();
  const [stderr, setStderr] = useState<string | null>(null);
  const [deleting, setDeleting] = useState(false);
  const { user } = useAuth();
  const manageable = s.is_owner || user?.is_admin === true;
  const act = (key: string, fn: () => Promise<unknown>) =>
    rows.run(key, async () => {
      await fn();
      onChanged();
    });
  const toggleTool = (tool: string, allowed: boolean) =>
    act(`tool:${tool}`, () =>
      endpoints.updateMcpServer(s.id, {
        tool_deny: allowed ? s.tool_deny.filter((t) => t !== tool) : [...s.tool_deny, tool],
      }),
    );
  return (
    <Card
      headingId={`srv-${s.id}`}
      title={
        <>
          {s.name} <Badge tone={STATUS_TONE[s.status]}>{s.status}</Badge>
        </>
      }
    >
      <p>
        {s.transport === 'stdio' ? `stdio: ${s.command} ${s.args.join(' ')}` : `${s.transport}: ${s.url}`}
        {s.shared ? ' · shared' : ''}
        {s.restart_count ? ` · ${s.restart_count} restarts` : ''}
      </p>
      {s.description ? <p>{s.description}</p> : null}
      {s.last_error ? <FormError message={s.last_error} /> : null}
      <ServerActions
        server={s}
        manageable={manageable}
        busy={rows.busy}
        act={act}
        onEdit={onEdit}
        onStderr={() =>
          rows.run('stderr', async () =>
            setStderr((await endpoints.mcpServerStderr(s.id)).stderr || '(empty)'),
          )
        }
        onDelete={() => setDeleting(true)}
      />
      {Object.values(rows.errors).some(Boolean) ? (
        <FormError message={Object.values(rows.errors).filter(Boolean).join('; ')} />
      ) : null}
      {stderr !== null ? <pre className="code">{stderr}</pre> : null}
      {s.tools.length ? (
        <ul className="tool-list">
          {s.tools.map((t) => (
            <li key={t.name}>
              <Switch
                label={t.exposed_name}
                description={t.description}
                checked={t.allowed}
                disabled={!manageable}
                busy={rows.busy === `tool:${t.name}`}
                onChange={(next) => void toggleTool(t.name, next)}
              />
            </li>
          ))}
        </ul>
      ) : null}
      <ConfirmDialog
        open={deleting}
        title={`Delete “${s.name}”?`}
        confirmLabel="Delete"
        danger
        onClose={() => setDeleting(false)}
        onConfirm={async () => {
          await endpoints.deleteMcpServer(s.id);
          setDeleting(false);
          toast(`Server “${s.name}” deleted`);
          onChanged();
        }}
      >
        <p>Its tools leave every user's tool list.</p>
      </ConfirmDialog>
    </Card>
  );
}

/** Start/restart, stop, edit, stderr and delete for who manages the server; hide/show for the others. */
function ServerActions({
  server: s,
  manageable,
  busy,
  act,
  onEdit,
  onStderr,
  onDelete,
}: {
  server: McpServer;
  manageable: boolean;
  busy: string | null;
  act: (key: string, fn: () => Promise<unknown>) => unknown;
  onEdit: () => void;
  onStderr: () => void;
  onDelete: () => void;
}) {
  return (
    <div className="actions">
      {manageable ? (
        <>
          <Button
            size="sm"
            busy={busy === 'start'}
            onClick={() =>
              act('start', () => endpoints.mcpServerAction(s.id, s.enabled ? 'restart' : 'start'))
            }
          >
            {s.enabled ? 'Restart' : 'Start'}
          </Button>
          {s.enabled ? (
            <Button
              size="sm"
              busy={busy === 'stop'}
              onClick={() => act('stop', () => endpoints.mcpServerAction(s.id, 'stop'))}
            >
              Stop
            </Button>
          ) : null}
          <Button size="sm" onClick={onEdit}>
            Edit
          </Button>
          {s.transport === 'stdio' ? (
            <Button size="sm" onClick={onStderr}>
              Show stderr
            </Button>
          ) : null}
          <Button size="sm" variant="danger" onClick={onDelete}>
            Delete
          </Button>
        </>
      ) : (
        <Button
          size="sm"
          busy={busy === 'hide'}
          onClick={() => act('hide', () => endpoints.hideMcpServer(s.id, !s.hidden))}
        >
          {s.hidden ? 'Show in my tools' : 'Hide from my tools'}
        </Button>
      )}
    </div>
  );
}

function ServerForm({
  server,
  onClose,
  onSaved,
}: {
  server: McpServer | null;
  onClose: () => void;
  onSaved: () => void;
}) {
  const isAdmin = useAuth().user?.is_admin ?? false;
  const f = useServerForm(server, onSaved);
  return (
    <Card
      headingId="mcp-server-form"
      title={server ? `Edit “${server.name}”` : 'Add an MCP server'}
      onSubmit={f.submit}
    >
      {!server ? (
        <SelectField
          label="Transport"
          value={f.transport}
          onChange={(e) => f.setTransport(e.target.value as McpServer['transport'])}
        >
          <option value="streamable-http">Streamable HTTP</option>
          <option value="sse">SSE (legacy)</option>
          {isAdmin ? <option value="stdio">stdio (a command, sandboxed)</option> : null}
        </SelectField>
      ) : null}
      <TextField
        label="Name"
        hint="a-z, 0-9 and -, up to 20 characters"
        value={f.name}
        onChange={(e) => f.setName(e.target.value)}
      />
      <TextField
        label="Description"
        value={f.description}
        onChange={(e) => f.setDescription(e.target.value)}
      />
      {f.transport === 'stdio' ? (
        <>
          <TextField label="Command" value={f.command} onChange={(e) => f.setCommand(e.target.value)} />
          <TextArea
            label="Arguments"
            hint="one per line"
            value={f.args}
            onChange={(e) => f.setArgs(e.target.value)}
          />
          <TextArea
            label="Readable paths"
            hint="host paths the server may read (its install dir), one per line"
            value={f.readPaths}
            onChange={(e) => f.setReadPaths(e.target.value)}
          />
        </>
      ) : (
        <TextField label="URL" value={f.url} onChange={(e) => f.setUrl(e.target.value)} />
      )}
      <TextArea
        label={f.transport === 'stdio' ? 'Environment (secret)' : 'Headers (secret)'}
        hint={`NAME=value, one per line; ${MASK} keeps a stored value`}
        value={f.secrets}
        onChange={(e) => f.setSecrets(e.target.value)}
      />
      <TextField
        label="Call timeout (seconds)"
        type="number"
        min={1}
        value={f.timeout}
        onChange={(e) => f.setTimeoutSeconds(e.target.value)}
      />
      {isAdmin ? <Switch label="Shared with every user" checked={f.shared} onChange={f.setShared} /> : null}
      {f.save.error ? <ErrorText error={f.save.error} /> : null}
      <div className="actions">
        <Button type="submit" variant="primary" busy={f.save.busy}>
          Save
        </Button>
        <Button onClick={onClose}>Cancel</Button>
      </div>
    </Card>
  );
}

/** The server form's fields, and saving them (creating the server or updating it). */
function useServerForm(server: McpServer | null, onSaved: () => void) {
  const [transport, setTransport] = useState<McpServer['transport']>(server?.transport ?? 'streamable-http');
  const [name, setName] = useState(server?.name ?? '');
  const [description, setDescription] = useState(server?.description ?? '');
  const [url, setUrl] = useState(server?.url ?? '');
  const [command, setCommand] = useState(server?.command ?? '');
  const [args, setArgs] = useState(server?.args.join('\n') ?? '');
  const [readPaths, setReadPaths] = useState(server?.read_paths.join('\n') ?? '');
  const [secrets, setSecrets] = useState(
    pairsText((transport === 'stdio' ? server?.env : server?.headers) ?? {}),
  );
  const [shared, setShared] = useState(server?.shared ?? false);
  const [timeout, setTimeoutSeconds] = useState(String((server?.call_timeout_ms ?? 120_000) / 1000));
  const save = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save.run(async () => {
      const common = { name, description, shared, call_timeout_ms: Math.round(Number(timeout) * 1000) };
      const stdio = { command, args: lines(args), read_paths: lines(readPaths), env: parsePairs(secrets) };
      const remote = { url, headers: parsePairs(secrets) };
      if (server) {
        await endpoints.updateMcpServer(server.id, {
          ...common,
          ...(transport === 'stdio' ? stdio : remote),
        });
      } else {
        await endpoints.createMcpServer(
          transport === 'stdio' ? { transport, ...common, ...stdio } : { transport, ...common, ...remote },
        );
      }
      toast(`Server “${name}” saved`);
      onSaved();
    });
  };
  return {
    transport,
    setTransport,
    name,
    setName,
    description,
    setDescription,
    url,
    setUrl,
    command,
    setCommand,
    args,
    setArgs,
    readPaths,
    setReadPaths,
    secrets,
    setSecrets,
    shared,
    setShared,
    timeout,
    setTimeoutSeconds,
    save,
    submit,
  };
}
