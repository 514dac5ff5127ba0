import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { errorMessage } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { ApiToken, CreatedApiToken, KeyPermissions } from '../api/types';
import { useAuth } from '../auth';
import { ConfirmDialog } from '../components/Dialog';
import { PageHeader } from '../components/Layout';
import { toast } from '../components/Toaster';
import {
  Alert,
  Badge,
  Button,
  DataTable,
  Card,
  CopyButton,
  EmptyState,
  FormSubmit,
  ListStates,
  LoadingLines,
  SelectField,
  TextField,
  splitErrors,
} from '../components/ui';
import { formatDay, formatRelative } from '../lib/format';
import { freshToken } from '../lib/freshToken';
import { useAction, useAsync, useDocumentTitle } from '../lib/hooks';
import { Link } from '../router';
import { ConnectedAppsCard } from './ConnectedApps';

const EXPIRY = [
  { value: '7', label: '7 days' },
  { value: '30', label: '30 days' },
  { value: '90', label: '90 days' },
  { value: '365', label: '1 year' },
  { value: 'never', label: 'No expiry' },
  { value: 'custom', label: 'Custom date…' },
];

function status(t: ApiToken): { label: string; tone: 'success' | 'danger' | 'neutral' } {
  if (t.revoked_at) return { label: 'Revoked', tone: 'danger' };
  if (t.expires_at && new Date(t.expires_at).getTime() < Date.now())
    return { label: 'Expired', tone: 'neutral' };
  if (t.is_disabled) return { label: 'Disabled', tone: 'neutral' };
  return { label: 'Active', tone: 'success' };
}

const PERMISSIONS: { key: keyof KeyPermissions; label: string; text: string }[] = [
  { key: 'can_use_mcp', label: 'MCP', text: 'connect MCP clients (Claude Code, Cursor, VS Code…)' },
  {
    key: 'can_manage',
    label: 'Manage',
    text: 'manage your skills and keys through the REST API (scripts, CI)',
  },
  {
    key: 'can_call_assistant',
    label: 'Assistants',
    text: 'call your assistants through the OpenAI-compatible API',
  },
  { key: 'can_admin', label: 'Admin', text: 'also act with your admin powers (needs Manage)' },
];

const permissionError = (p: KeyPermissions): string | undefined =>
  !p.can_use_mcp && !p.can_manage && !p.can_call_assistant
    ? 'Pick at least one of MCP, Manage or Assistants.'
    : p.can_admin && !p.can_manage
      ? 'Admin needs Manage.'
      : undefined;

/** A restriction plus the key's existing upstream-server restriction, if any (set through the API). */
const withServers = <R extends object>(r: R | null, servers: string[] | undefined) =>
  servers ? { ...(r ?? {}), servers } : r;

/** "pdf, docx" → a restriction to those skills, and small-context mode; neither → no restriction. */
const restrictionOf = (
  text: string,
  compactTools: boolean,
): { skills?: string[]; compact_tools?: boolean } | null => {
  const skills = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!skills.length && !compactTools) return null;
  return { ...(skills.length ? { skills } : {}), ...(compactTools ? { compact_tools: true } : {}) };
};

const COMPACT_HINT =
  'MCP clients are listed only search_tools and call_tool, and find and call every other tool through them. Grants nothing more.';

function CompactToolsField({ value, onChange }: { value: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="checkbox" title={COMPACT_HINT}>
      <input type="checkbox" checked={value} onChange={(e) => onChange(e.currentTarget.checked)} />
      Small context: list only the search tools
    </label>
  );
}

function PermissionFields({
  idPrefix,
  value,
  onChange,
  showAdmin,
  error,
}: {
  idPrefix: string;
  value: KeyPermissions;
  onChange: (next: KeyPermissions) => void;
  showAdmin: boolean;
  error?: string;
}) {
  const errorId = `${idPrefix}-permissions-error`;
  return (
    <fieldset className="fieldset" aria-describedby={error ? errorId : undefined}>
      <legend>Permissions</legend>
      {PERMISSIONS.filter((p) => p.key !== 'can_admin' || showAdmin || value.can_admin).map((p) => (
        <label className="checkbox" key={p.key}>
          <input
            type="checkbox"
            checked={value[p.key]}
            onChange={(e) => {
              const next = { ...value, [p.key]: e.currentTarget.checked };
              if (p.key === 'can_manage' && !next.can_manage) next.can_admin = false;
              onChange(next);
            }}
          />
          <span>
            <strong>{p.label}</strong> — {p.text}
          </span>
        </label>
      ))}
      {error && (
        <p className="field-error" id={errorId} role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}

const SKILLS_HINT = 'Comma-separated skill names; the key sees only these skills’ tools. Empty: all skills.';

/** The create form's own checks (field → problem), and the expiry it asks for. */
function checkNewToken(name: string, permissions: KeyPermissions, expiry: string, customDate: string) {
  const problems: Record<string, string> = {};
  if (!name.trim()) problems.name = 'Give the token a name, e.g. “Laptop – Claude Code”.';
  const permissionProblem = permissionError(permissions);
  if (permissionProblem) problems.permissions = permissionProblem;
  let expires_at: string | undefined;
  if (expiry === 'custom') {
    const d = customDate ? new Date(`${customDate}T23:59:59`) : null;
    if (!d || Number.isNaN(d.getTime())) problems.expires_at = 'Pick an expiry date.';
    else if (d.getTime() <= Date.now()) problems.expires_at = 'The expiry date must be in the future.';
    else expires_at = d.toISOString();
  } else if (expiry !== 'never') {
    expires_at = new Date(Date.now() + Number(expiry) * 86_400_000).toISOString();
  }
  return { problems, expires_at };
}

function CreateTokenForm({ onCreated }: { onCreated: (t: CreatedApiToken) => void }) {
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState<KeyPermissions>({
    can_use_mcp: true,
    can_manage: false,
    can_call_assistant: false,
    can_admin: false,
  });
  const [skills, setSkills] = useState('');
  const [compactTools, setCompactTools] = useState(false);
  const isAdmin = useAuth().user?.is_admin ?? false;
  const [expiry, setExpiry] = useState('90');
  const [customDate, setCustomDate] = useState('');
  const { busy, error, setError, run } = useAction();
  const [local, setLocal] = useState<Record<string, string>>({});

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const { problems, expires_at } = checkNewToken(name, permissions, expiry, customDate);
    setLocal(problems);
    setError(null);
    if (Object.keys(problems).length) return;
    await run(async () => {
      const created = await endpoints.createToken({
        name: name.trim(),
        ...permissions,
        restriction: restrictionOf(skills, compactTools),
        expires_at,
      });
      setName('');
      setSkills('');
      setCompactTools(false);
      onCreated(created);
    });
  };

  const { fields, form } = splitErrors(error, ['name', 'can_use_mcp', 'can_admin', 'expires_at']);
  const permissionsError = local.permissions ?? fields.can_use_mcp ?? fields.can_admin;

  return (
    <Card headingId="create-token-heading" title="Create a token" onSubmit={submit}>
      <div className="form-grid">
        <TextField
          label="Name"
          name="name"
          placeholder="Laptop – Claude Code"
          autoComplete="off"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={local.name ?? fields.name}
        />
        <SelectField
          label="Expires"
          value={expiry}
          onChange={(e) => setExpiry(e.currentTarget.value)}
          error={expiry !== 'custom' ? (fields.expires_at ?? null) : null}
        >
          {EXPIRY.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </SelectField>
        {expiry === 'custom' && (
          <TextField
            label="Expiry date"
            type="date"
            value={customDate}
            min={new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}
            onChange={(e) => setCustomDate(e.currentTarget.value)}
            error={local.expires_at ?? fields.expires_at}
          />
        )}
      </div>
      <PermissionFields
        idPrefix="create"
        value={permissions}
        onChange={setPermissions}
        showAdmin={isAdmin}
        error={permissionsError}
      />
      <TextField
        label="Only these skills (optional)"
        name="skills"
        placeholder="pdf, docx"
        autoComplete="off"
        hint={SKILLS_HINT}
        value={skills}
        onChange={(e) => setSkills(e.currentTarget.value)}
      />
      <CompactToolsField value={compactTools} onChange={setCompactTools} />
      <FormSubmit form={form} busy={busy} label="Create token" />
    </Card>
  );
}

function NewTokenPanel({ token, onDone }: { token: CreatedApiToken; onDone: () => void }) {
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), []);
  return (
    <section className="card new-token" aria-labelledby="new-token-heading">
      <h2 id="new-token-heading" className="card-title" tabIndex={-1} ref={headingRef}>
        Your new token “{token.name}”
      </h2>
      <Alert kind="warning">
        Copy it now: this is the only time it is shown. Store it like a password; anyone with it can use your
        skills.
      </Alert>
      <div className="token-value">
        <label htmlFor="new-token-value" className="visually-hidden">
          New token
        </label>
        <input
          id="new-token-value"
          readOnly
          value={token.token}
          onFocus={(e) => e.currentTarget.select()}
          spellCheck={false}
        />
        <CopyButton text={token.token} label="Copy token" />
      </div>
      <div className="form-actions">
        <Link to="/connect" className="btn btn-secondary">
          Set up a client with it
        </Link>
        <Button variant="ghost" onClick={onDone}>
          Done
        </Button>
      </div>
    </section>
  );
}

function EditKeyDialog({
  token,
  onClose,
  onSaved,
}: {
  token: ApiToken | null;
  onClose: () => void;
  onSaved: (t: ApiToken) => void;
}) {
  const isAdmin = useAuth().user?.is_admin ?? false;
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState<KeyPermissions | null>(null);
  const [skills, setSkills] = useState('');
  const [compactTools, setCompactTools] = useState(false);
  useEffect(() => {
    if (!token) return;
    setName(token.name);
    const { can_manage, can_call_assistant, can_use_mcp, can_admin } = token;
    setPermissions({ can_manage, can_call_assistant, can_use_mcp, can_admin });
    setSkills(token.restriction?.skills?.join(', ') ?? '');
    setCompactTools(token.restriction?.compact_tools === true);
  }, [token]);
  const problem = permissions ? permissionError(permissions) : undefined;
  return (
    <ConfirmDialog
      open={token !== null}
      title={`Edit “${token?.name ?? ''}”`}
      confirmLabel="Save changes"
      confirmDisabled={!name.trim() || problem !== undefined}
      onClose={onClose}
      onConfirm={async () => {
        if (!token || !permissions) return;
        const saved = await endpoints.updateToken(token.id, {
          name: name.trim(),
          ...permissions,
          // The server list (set through the API) stays as it is; this form edits the skills and the mode.
          restriction: withServers(restrictionOf(skills, compactTools), token.restriction?.servers),
        });
        onSaved(saved);
        toast(`Key “${saved.name}” saved`);
      }}
    >
      {permissions && (
        <>
          <TextField
            label="Name"
            autoComplete="off"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={name.trim() ? null : 'Give the key a name.'}
          />
          <PermissionFields
            idPrefix="edit"
            value={permissions}
            onChange={setPermissions}
            showAdmin={isAdmin}
            error={problem}
          />
          <TextField
            label="Only these skills (optional)"
            autoComplete="off"
            hint={SKILLS_HINT}
            value={skills}
            onChange={(e) => setSkills(e.currentTarget.value)}
          />
          <CompactToolsField value={compactTools} onChange={setCompactTools} />
        </>
      )}
    </ConfirmDialog>
  );
}

function TokenRow({
  t,
  onEdit,
  onToggle,
  onRevoke,
}: {
  t: ApiToken;
  onEdit: () => void;
  onToggle: () => void;
  onRevoke: () => void;
}) {
  const st = status(t);
  return (
    <tr>
      <td data-label="Name">
        <div>
          <strong>{t.name}</strong>
          <div className="muted small">Created {formatDay(t.created_at)}</div>
        </div>
      </td>
      <td data-label="Token">
        <code>{t.prefix}…</code>
      </td>
      <td data-label="Permissions">
        <span className="badges">
          {PERMISSIONS.filter((p) => t[p.key]).map((p) => (
            <Badge key={p.key}>{p.label}</Badge>
          ))}
        </span>
      </td>
      <td data-label="Skills">{t.restriction?.skills ? t.restriction.skills.join(', ') || 'None' : 'All'}</td>
      <td data-label="Last used">{t.last_used_at ? formatRelative(t.last_used_at) : 'Never'}</td>
      <td data-label="Expires">{t.expires_at ? formatDay(t.expires_at) : 'Never'}</td>
      <td data-label="Status">
        <Badge tone={st.tone}>{st.label}</Badge>
      </td>
      <td className="cell-actions">
        {!t.revoked_at && (
          <>
            <Button size="sm" variant="ghost" onClick={onEdit} aria-label={`Edit token ${t.name}`}>
              Edit
            </Button>
            <Button
              size="sm"
              variant="ghost"
              onClick={onToggle}
              aria-label={`${t.is_disabled ? 'Enable' : 'Disable'} token ${t.name}`}
            >
              {t.is_disabled ? 'Enable' : 'Disable'}
            </Button>
            <Button
              size="sm"
              variant="ghost"
              className="text-danger"
              onClick={onRevoke}
              aria-label={`Revoke token ${t.name}`}
            >
              Revoke
            </Button>
          </>
        )}
      </td>
    </tr>
  );
}

function TokenTable({
  items,
  error,
  onRetry,
  onEdit,
  onToggle,
  onRevoke,
}: {
  items: ApiToken[] | null;
  error: unknown;
  onRetry: () => void;
  onEdit: (t: ApiToken) => void;
  onToggle: (t: ApiToken) => void;
  onRevoke: (t: ApiToken) => void;
}) {
  return (
    <Card headingId="tokens-heading" title="Your tokens">
      <ListStates
        items={items}
        error={error}
        onRetry={onRetry}
        placeholder={<LoadingLines label="Loading tokens…" lines={3} height={44} />}
        empty={
          <EmptyState icon="key" title="No tokens yet">
            <p>Create one above, then paste it into your MCP client's configuration.</p>
          </EmptyState>
        }
      >
        {(tokens) => (
          <DataTable
            columns={['Name', 'Token', 'Permissions', 'Skills', 'Last used', 'Expires', 'Status']}
            actions
          >
            {tokens.map((t) => (
              <TokenRow
                key={t.id}
                t={t}
                onEdit={() => onEdit(t)}
                onToggle={() => onToggle(t)}
                onRevoke={() => onRevoke(t)}
              />
            ))}
          </DataTable>
        )}
      </ListStates>
    </Card>
  );
}

export function TokensPage() {
  useDocumentTitle('API tokens');
  const list = useAsync((_s) => endpoints.listTokens(), []);
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const [revoke, setRevoke] = useState<ApiToken | null>(null);
  const [editing, setEditing] = useState<ApiToken | null>(null);
  const items = list.data?.items ?? null;
  const replace = (t: ApiToken) =>
    list.setData((prev) =>
      prev ? { ...prev, items: prev.items.map((x) => (x.id === t.id ? t : x)) } : prev,
    );
  const toggle = async (t: ApiToken) => {
    try {
      replace(await endpoints.updateToken(t.id, { is_disabled: !t.is_disabled }));
      toast(`Token “${t.name}” ${t.is_disabled ? 'enabled' : 'disabled'}`);
    } catch (err) {
      toast(errorMessage(err), 'error');
    }
  };

  return (
    <>
      <PageHeader
        title="API tokens"
        description="Personal API keys let MCP clients, scripts and chat clients act as you, with only the permissions you give them. Give each device or tool its own key so you can disable or revoke it alone."
      />
      {created ? (
        <NewTokenPanel
          token={created}
          onDone={() => {
            setCreated(null);
          }}
        />
      ) : (
        <CreateTokenForm
          onCreated={(t) => {
            setCreated(t);
            freshToken.set({ name: t.name, token: t.token });
            const { token: _secret, ...rest } = t;
            list.setData((prev) => ({
              items: [rest, ...(prev?.items ?? [])],
              next_cursor: prev?.next_cursor ?? null,
            }));
          }}
        />
      )}

      <TokenTable
        items={items}
        error={list.error}
        onRetry={list.reload}
        onEdit={setEditing}
        onToggle={(t) => void toggle(t)}
        onRevoke={setRevoke}
      />

      <ConnectedAppsCard />

      <EditKeyDialog
        token={editing}
        onClose={() => setEditing(null)}
        onSaved={(t) => {
          replace(t);
          setEditing(null);
        }}
      />

      <ConfirmDialog
        open={revoke !== null}
        title={`Revoke “${revoke?.name ?? ''}”?`}
        confirmLabel="Revoke token"
        danger
        onClose={() => setRevoke(null)}
        onConfirm={async () => {
          if (!revoke) return;
          await endpoints.revokeToken(revoke.id);
          const now = new Date().toISOString();
          list.setData((prev) =>
            prev
              ? {
                  ...prev,
                  items: prev.items.map((x) => (x.id === revoke.id ? { ...x, revoked_at: now } : x)),
                }
              : prev,
          );
          if (created?.id === revoke.id) setCreated(null);
          if (freshToken.get()?.token.startsWith(revoke.prefix)) freshToken.set(null);
          setRevoke(null);
          toast(`Token “${revoke.name}” revoked`);
        }}
      >
        <p>
          Clients using the token starting <code>{revoke?.prefix}</code> stop working immediately. This cannot
          be undone (to stop a key for a while, disable it instead).
        </p>
      </ConfirmDialog>
    </>
  );
}
