import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { endpoints } from '../api/endpoints';
import type { Skill, User } from '../api/types';
import { useAuth } from '../auth';
import { ConfirmDialog } from '../components/Dialog';
import { PageHeader } from '../components/Layout';
import { toast } from '../components/Toaster';
import {
  Badge,
  Button,
  DataTable,
  Card,
  EmptyState,
  FormError,
  FormSubmit,
  Icon,
  ListStates,
  LoadingLines,
  SearchField,
  Switch,
  TextField,
  splitErrors,
} from '../components/ui';
import { formatDay } from '../lib/format';
import { useAction, useDebounced, useDocumentTitle, useRowActions } from '../lib/hooks';
import { Link } from '../router';

function CreateUserForm({ onCreated }: { onCreated: (u: User) => void }) {
  const [email, setEmail] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [isAdmin, setIsAdmin] = useState(false);
  const { busy, error, run } = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await run(async () => {
      const u = await endpoints.createUser({ email: email.trim(), username, password, is_admin: isAdmin });
      setEmail('');
      setUsername('');
      setPassword('');
      setIsAdmin(false);
      onCreated(u);
      toast(`Created user ${u.username}`);
    });
  };
  const { fields, form } = splitErrors(error, ['email', 'username', 'password', 'is_admin']);

  return (
    <details className="disclosure">
      <summary>
        <Icon name="plus" />
        Create a user
      </summary>
      <form onSubmit={submit} noValidate className="disclosure-body">
        <div className="form-grid">
          <TextField
            label="Email"
            type="email"
            name="new_email"
            autoComplete="off"
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={fields.email}
          />
          <TextField
            label="Username"
            name="new_username"
            autoComplete="off"
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value.toLowerCase())}
            error={fields.username}
          />
          <TextField
            label="Initial password"
            type="password"
            name="new_password"
            autoComplete="new-password"
            hint="At least 10 characters."
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={fields.password}
          />
        </div>
        <label className="checkbox">
          <input type="checkbox" checked={isAdmin} onChange={(e) => setIsAdmin(e.currentTarget.checked)} />
          Administrator
        </label>
        <FormSubmit form={form} busy={busy} label="Create user" />
      </form>
    </details>
  );
}

function UsersSection() {
  const { user: me } = useAuth();
  const [q, setQ] = useState('');
  const query = useDebounced(q.trim(), 250);
  const [items, setItems] = useState<User[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [more, setMore] = useState(false);
  const rows = useRowActions({ oneError: true });
  const [confirm, setConfirm] = useState<User | null>(null);
  const [nonce, setNonce] = useState(0);

  useEffect(() => {
    let live = true;
    setItems(null);
    setError(null);
    endpoints.listUsers({ q: query || undefined, limit: 50 }).then(
      (p) => {
        if (!live) return;
        setItems(p.items);
        setCursor(p.next_cursor);
      },
      (err: unknown) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [query, nonce]);

  const loadMore = async () => {
    setMore(true);
    try {
      const p = await endpoints.listUsers({ q: query || undefined, cursor, limit: 50 });
      setItems((prev) => [...(prev ?? []), ...p.items]);
      setCursor(p.next_cursor);
    } catch (err) {
      setError(err);
    } finally {
      setMore(false);
    }
  };

  const setDisabled = (u: User, disabled: boolean) =>
    rows.run(
      u.id,
      async () => {
        const next = await endpoints.updateUser(u.id, { disabled });
        setItems((prev) => prev?.map((x) => (x.id === u.id ? next : x)) ?? prev);
        toast(`${next.username} ${disabled ? 'disabled' : 'enabled'}`);
      },
      { rethrow: true },
    );

  return (
    <Card headingId="users-heading" title="Users">
      <div className="toolbar">
        <SearchField
          id="user-search"
          label="Search users"
          placeholder="Search by name or email…"
          value={q}
          onChange={setQ}
        />
      </div>
      <ListStates
        items={items}
        error={error}
        onRetry={() => setNonce((n) => n + 1)}
        placeholder={<LoadingLines label="Loading users…" lines={4} height={44} />}
        empty={<EmptyState icon="users" title={query ? 'No users match' : 'No users'} />}
      >
        {(users) => (
          <DataTable columns={['User', 'Role', 'Status', 'Joined']} actions>
            {users.map((u) => (
              <tr key={u.id}>
                <td data-label="User">
                  <div>
                    <strong>{u.username}</strong>
                    {u.id === me?.id && <span className="muted"> (you)</span>}
                    <div className="muted small">{u.email}</div>
                  </div>
                </td>
                <td data-label="Role">{u.is_admin ? <Badge tone="accent">Admin</Badge> : 'User'}</td>
                <td data-label="Status">
                  {u.disabled ? <Badge tone="danger">Disabled</Badge> : <Badge tone="success">Active</Badge>}
                </td>
                <td data-label="Joined">{formatDay(u.created_at)}</td>
                <td className="cell-actions">
                  {u.id !== me?.id &&
                    (u.disabled ? (
                      <Button
                        size="sm"
                        busy={rows.busy === u.id}
                        onClick={() => void setDisabled(u, false).catch(() => {})}
                        aria-label={`Enable ${u.username}`}
                      >
                        Enable
                      </Button>
                    ) : (
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-danger"
                        onClick={() => setConfirm(u)}
                        aria-label={`Disable ${u.username}`}
                      >
                        Disable
                      </Button>
                    ))}
                  <FormError message={rows.errors[u.id]} />
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </ListStates>
      {cursor && items && (
        <div className="load-more">
          <Button onClick={loadMore} busy={more}>
            Load more
          </Button>
        </div>
      )}
      <CreateUserForm onCreated={(u) => setItems((prev) => [u, ...(prev ?? [])])} />
      <ConfirmDialog
        open={confirm !== null}
        title={`Disable ${confirm?.username ?? ''}?`}
        confirmLabel="Disable user"
        danger
        onClose={() => setConfirm(null)}
        onConfirm={async () => {
          if (!confirm) return;
          await setDisabled(confirm, true);
          setConfirm(null);
        }}
      >
        <p>
          They are signed out, their tokens stop working, and they cannot log in until you enable them again.
        </p>
      </ConfirmDialog>
    </Card>
  );
}

function SharedSkillsSection() {
  const [items, setItems] = useState<Skill[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const rows = useRowActions();

  useEffect(() => {
    let live = true;
    endpoints.listSkills({ scope: 'own', include_disabled: true, limit: 100 }).then(
      (p) => live && setItems(p.items),
      (err: unknown) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, []);

  const toggle = (s: Skill, shared: boolean) =>
    rows.run(s.name, async () => {
      const next = await endpoints.updateSkill(s.name, { shared });
      setItems((prev) => prev?.map((x) => (x.id === s.id ? next : x)) ?? prev);
    });

  return (
    <Card headingId="shared-heading" title="Shared skills">
      <p className="muted small">
        A shared skill is offered to every user on this server (they can hide it). Only your own skills can be
        shared.
      </p>
      <ListStates
        items={items}
        error={error}
        placeholder={<LoadingLines label="Loading skills…" lines={3} height={36} />}
        empty={
          <EmptyState
            title="You have no skills to share"
            action={
              <Link to="/skills/new" className="btn btn-secondary">
                Upload a skill
              </Link>
            }
          />
        }
      >
        {(skills) => (
          <ul className="share-list">
            {skills.map((s) => (
              <li key={s.id}>
                <div className="share-info">
                  <Link to={`/skills/${encodeURIComponent(s.name)}`}>{s.name}</Link>
                  <span className="muted small">{s.description}</span>
                </div>
                <Switch
                  label={`Share ${s.name}`}
                  checked={s.shared}
                  busy={rows.busy === s.name}
                  error={rows.errors[s.name]}
                  onChange={(v) => toggle(s, v)}
                />
              </li>
            ))}
          </ul>
        )}
      </ListStates>
    </Card>
  );
}

export function AdminPage() {
  useDocumentTitle('Admin');
  const { user } = useAuth();
  if (!user?.is_admin) {
    return (
      <>
        <PageHeader title="Admin" />
        <EmptyState icon="users" title="Administrators only">
          <p>You need an administrator account to manage users and shared skills.</p>
        </EmptyState>
      </>
    );
  }
  return (
    <>
      <PageHeader
        title="Admin"
        description="Manage who can use this server and which skills everyone gets."
      />
      <UsersSection />
      <SharedSkillsSection />
    </>
  );
}
