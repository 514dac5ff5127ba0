import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { endpoints } from '../api/endpoints';
import type { User } from '../api/types';
import { useAuth } from '../auth';
import { ConfirmDialog } from '../components/Dialog';
import { toast } from '../components/Toaster';
import {
  Badge,
  Button,
  Card,
  DataTable,
  EmptyState,
  FormError,
  FormSubmit,
  Icon,
  ListStates,
  LoadingLines,
  SearchField,
  TextField,
  splitErrors,
} from '../components/ui';
import { formatDay } from '../lib/format';
import { useAction, useDebounced, useRowActions } from '../lib/hooks';

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

type UserAction = 'disable' | 'promote' | 'password' | 'delete';

/** The confirmation each consequential action asks for, with what happens next in words. */
function UserActionDialog({
  action,
  user,
  onClose,
  onDone,
}: {
  action: UserAction | null;
  user: User | null;
  onClose: () => void;
  onDone: (action: UserAction, u: User, password: string) => Promise<void>;
}) {
  const [password, setPassword] = useState('');
  const [typed, setTyped] = useState('');
  useEffect(() => {
    setPassword('');
    setTyped('');
  }, [action, user]);
  const name = user?.username ?? '';
  const common = {
    open: action !== null && user !== null,
    onClose,
    onConfirm: () => onDone(action!, user!, password),
  };
  switch (action) {
    case 'promote':
      return (
        <ConfirmDialog {...common} title={`Make ${name} an administrator?`} confirmLabel="Make administrator">
          <p>
            Administrators manage every user, see everyone&apos;s activity, share skills with all users and
            change server settings.
          </p>
        </ConfirmDialog>
      );
    case 'password':
      return (
        <ConfirmDialog
          {...common}
          title={`Reset the password of ${name}?`}
          confirmLabel="Set password"
          confirmDisabled={password.length < 10}
        >
          <p>
            They are signed out of the console everywhere and log in with the new password. Tell it to them
            safely.
          </p>
          <TextField
            label="New password"
            type="password"
            autoComplete="new-password"
            hint="At least 10 characters."
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
          />
        </ConfirmDialog>
      );
    case 'delete':
      return (
        <ConfirmDialog
          {...common}
          title={`Delete ${name}?`}
          confirmLabel="Delete user"
          danger
          confirmDisabled={typed !== name}
        >
          <p>
            Their skills, versions and tokens are deleted for good. Their activity stays in the log, without
            their name.
          </p>
          <TextField
            label={`Type ${name} to confirm`}
            autoComplete="off"
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
          />
        </ConfirmDialog>
      );
    default:
      return (
        <ConfirmDialog {...common} title={`Disable ${name}?`} confirmLabel="Disable user" danger>
          <p>
            They are signed out, their tokens stop working, and they cannot log in until you enable them
            again.
          </p>
        </ConfirmDialog>
      );
  }
}

function UserRowActions({
  u,
  busy,
  onAsk,
  onSet,
}: {
  u: User;
  busy: string | null;
  onAsk: (action: UserAction) => void;
  onSet: (patch: { disabled?: boolean; is_admin?: boolean }) => void;
}) {
  return (
    <div className="row-actions">
      {u.is_admin ? (
        <Button
          size="sm"
          variant="ghost"
          busy={busy === `${u.id}:is_admin`}
          onClick={() => onSet({ is_admin: false })}
          // The visible text starts the accessible name (WCAG 2.5.3, label in name).
          aria-label={`Remove admin: ${u.username}`}
        >
          Remove admin
        </Button>
      ) : (
        <Button
          size="sm"
          variant="ghost"
          onClick={() => onAsk('promote')}
          aria-label={`Make admin: ${u.username}`}
        >
          Make admin
        </Button>
      )}
      <Button
        size="sm"
        variant="ghost"
        onClick={() => onAsk('password')}
        aria-label={`Reset password of ${u.username}`}
      >
        Reset password
      </Button>
      {u.disabled ? (
        <Button
          size="sm"
          busy={busy === `${u.id}:disabled`}
          onClick={() => onSet({ disabled: false })}
          aria-label={`Enable ${u.username}`}
        >
          Enable
        </Button>
      ) : (
        <Button
          size="sm"
          variant="ghost"
          className="text-danger"
          onClick={() => onAsk('disable')}
          aria-label={`Disable ${u.username}`}
        >
          Disable
        </Button>
      )}
      <Button
        size="sm"
        variant="ghost"
        className="text-danger"
        onClick={() => onAsk('delete')}
        aria-label={`Delete ${u.username}`}
      >
        Delete
      </Button>
    </div>
  );
}

export function UsersSection() {
  const { user: me } = useAuth();
  const [q, setQ] = useState('');
  const query = useDebounced(q.trim(), 250);
  const { items, setItems, cursor, error, retry, more, loadMore } = useUserList(query);
  const rows = useRowActions({ oneError: true });
  const [ask, setAsk] = useState<{ action: UserAction; user: User } | null>(null);

  const replace = (next: User) => setItems((prev) => prev?.map((x) => (x.id === next.id ? next : x)) ?? prev);

  const update = (u: User, patch: { disabled?: boolean; is_admin?: boolean }) =>
    rows.run(
      `${u.id}:${Object.keys(patch)[0]}`,
      async () => {
        const next = await endpoints.updateUser(u.id, patch);
        replace(next);
        toast(
          patch.disabled !== undefined
            ? `${next.username} ${patch.disabled ? 'disabled' : 'enabled'}`
            : `${next.username} is ${patch.is_admin ? 'now an administrator' : 'no longer an administrator'}`,
        );
      },
      { row: u.id, rethrow: true },
    );

  /** Runs a confirmed action; errors stay in the dialog (it rethrows), success closes it. */
  const confirmed = async (action: UserAction, u: User, password: string) => {
    if (action === 'disable') await update(u, { disabled: true });
    else if (action === 'promote') await update(u, { is_admin: true });
    else if (action === 'password') {
      await endpoints.resetPassword(u.id, password);
      toast(`Password of ${u.username} changed; they were signed out`);
    } else {
      await endpoints.deleteUser(u.id);
      setItems((prev) => prev?.filter((x) => x.id !== u.id) ?? prev);
      toast(`Deleted ${u.username}`);
    }
    setAsk(null);
  };

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
        onRetry={retry}
        placeholder={<LoadingLines label="Loading users…" lines={4} height={44} />}
        empty={<EmptyState icon="users" title={query ? 'No users match' : 'No users'} />}
      >
        {(users) => (
          <DataTable columns={['User', 'Role', 'Status', 'Joined']} actions className="users-table">
            {users.map((u) => (
              <UserRow
                key={u.id}
                u={u}
                isMe={u.id === me?.id}
                busy={rows.busy}
                error={rows.errors[u.id]}
                onAsk={(action) => setAsk({ action, user: u })}
                onSet={(patch) => void update(u, patch).catch(() => {})}
              />
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
      <UserActionDialog
        action={ask?.action ?? null}
        user={ask?.user ?? null}
        onClose={() => setAsk(null)}
        onDone={confirmed}
      />
    </Card>
  );
}

/** The users matching a search, a page at a time. */
function useUserList(query: string) {
  const [items, setItems] = useState<User[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [more, setMore] = useState(false);
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

  return { items, setItems, cursor, error, retry: () => setNonce((n) => n + 1), more, loadMore };
}

function UserRow({
  u,
  isMe,
  busy,
  error,
  onAsk,
  onSet,
}: {
  u: User;
  isMe: boolean;
  busy: string | null;
  error: string | undefined;
  onAsk: (action: UserAction) => void;
  onSet: (patch: { disabled?: boolean; is_admin?: boolean }) => void;
}) {
  return (
    <tr>
      <td data-label="User">
        <div>
          <strong>{u.username}</strong>
          {isMe && <span className="muted"> (you)</span>}
          <div className="muted small break">{u.email}</div>
        </div>
      </td>
      <td data-label="Role">{u.is_admin ? <Badge tone="accent">Admin</Badge> : 'User'}</td>
      <td data-label="Status">
        {u.disabled ? <Badge tone="danger">Disabled</Badge> : <Badge tone="success">Active</Badge>}
      </td>
      <td data-label="Joined">{formatDay(u.created_at)}</td>
      <td className="cell-actions">
        {!isMe && <UserRowActions u={u} busy={busy} onAsk={onAsk} onSet={onSet} />}
        <FormError message={error} />
      </td>
    </tr>
  );
}
