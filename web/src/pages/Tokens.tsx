import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { endpoints } from '../api/endpoints';
import type { ApiToken, CreatedApiToken, TokenScope } from '../api/types';
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
  return { label: 'Active', tone: 'success' };
}

function CreateTokenForm({ onCreated }: { onCreated: (t: CreatedApiToken) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Record<TokenScope, boolean>>({ mcp: true, api: false });
  const [expiry, setExpiry] = useState('90');
  const [customDate, setCustomDate] = useState('');
  const { busy, error, setError, run } = useAction();
  const [local, setLocal] = useState<Record<string, string>>({});

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!name.trim()) problems.name = 'Give the token a name, e.g. “Laptop – Claude Code”.';
    const chosen = (Object.keys(scopes) as TokenScope[]).filter((s) => scopes[s]);
    if (chosen.length === 0) problems.scopes = 'Pick at least one scope.';
    let expires_at: string | undefined;
    if (expiry === 'custom') {
      const d = customDate ? new Date(`${customDate}T23:59:59`) : null;
      if (!d || Number.isNaN(d.getTime())) problems.expires_at = 'Pick an expiry date.';
      else if (d.getTime() <= Date.now()) problems.expires_at = 'The expiry date must be in the future.';
      else expires_at = d.toISOString();
    } else if (expiry !== 'never') {
      expires_at = new Date(Date.now() + Number(expiry) * 86_400_000).toISOString();
    }
    setLocal(problems);
    setError(null);
    if (Object.keys(problems).length) return;
    await run(async () => {
      const created = await endpoints.createToken({ name: name.trim(), scopes: chosen, expires_at });
      setName('');
      onCreated(created);
    });
  };

  const { fields, form } = splitErrors(error, ['name', 'scopes', 'expires_at']);
  const scopesError = local.scopes ?? fields.scopes;

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
      <fieldset className="fieldset" aria-describedby={scopesError ? 'scopes-error' : undefined}>
        <legend>Scopes</legend>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={scopes.mcp}
            onChange={(e) => setScopes((s) => ({ ...s, mcp: e.currentTarget.checked }))}
          />
          <span>
            <strong>mcp</strong> — connect MCP clients (Claude Code, Cursor, VS Code…)
          </span>
        </label>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={scopes.api}
            onChange={(e) => setScopes((s) => ({ ...s, api: e.currentTarget.checked }))}
          />
          <span>
            <strong>api</strong> — call the REST API (scripts, CI uploads)
          </span>
        </label>
        {scopesError && (
          <p className="field-error" id="scopes-error" role="alert">
            {scopesError}
          </p>
        )}
      </fieldset>
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

export function TokensPage() {
  useDocumentTitle('API tokens');
  const list = useAsync((_s) => endpoints.listTokens(), []);
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const [revoke, setRevoke] = useState<ApiToken | null>(null);
  const items = list.data?.items ?? null;

  return (
    <>
      <PageHeader
        title="API tokens"
        description="Personal tokens let MCP clients and scripts act as you. Give each device or tool its own token so you can revoke it alone."
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

      <Card headingId="tokens-heading" title="Your tokens">
        <ListStates
          items={items}
          error={list.error}
          onRetry={list.reload}
          placeholder={<LoadingLines label="Loading tokens…" lines={3} height={44} />}
          empty={
            <EmptyState icon="key" title="No tokens yet">
              <p>Create one above, then paste it into your MCP client's configuration.</p>
            </EmptyState>
          }
        >
          {(tokens) => (
            <DataTable columns={['Name', 'Token', 'Scopes', 'Last used', 'Expires', 'Status']} actions>
              {tokens.map((t) => {
                const st = status(t);
                return (
                  <tr key={t.id}>
                    <td data-label="Name">
                      <div>
                        <strong>{t.name}</strong>
                        <div className="muted small">Created {formatDay(t.created_at)}</div>
                      </div>
                    </td>
                    <td data-label="Token">
                      <code>{t.prefix}…</code>
                    </td>
                    <td data-label="Scopes">
                      <span className="badges">
                        {t.scopes.map((s) => (
                          <Badge key={s}>{s}</Badge>
                        ))}
                      </span>
                    </td>
                    <td data-label="Last used">
                      {t.last_used_at ? formatRelative(t.last_used_at) : 'Never'}
                    </td>
                    <td data-label="Expires">{t.expires_at ? formatDay(t.expires_at) : 'Never'}</td>
                    <td data-label="Status">
                      <Badge tone={st.tone}>{st.label}</Badge>
                    </td>
                    <td className="cell-actions">
                      {!t.revoked_at && (
                        <Button
                          size="sm"
                          variant="ghost"
                          className="text-danger"
                          onClick={() => setRevoke(t)}
                          aria-label={`Revoke token ${t.name}`}
                        >
                          Revoke
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </DataTable>
          )}
        </ListStates>
      </Card>

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
          be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
