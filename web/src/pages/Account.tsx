import { useState } from 'react';
import type { FormEvent } from 'react';
import { clearSession, updateUser } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { User } from '../api/types';
import { useAuth } from '../auth';
import { ConfirmDialog } from '../components/Dialog';
import { PageHeader } from '../components/Layout';
import { toast } from '../components/Toaster';
import { Badge, Button, Card, FormSubmit, TextField, splitErrors } from '../components/ui';
import { formatDay } from '../lib/format';
import { useAction, useDocumentTitle } from '../lib/hooks';
import { navigate } from '../router';

function ProfileForm({ user }: { user: User }) {
  const [email, setEmail] = useState(user.email);
  const [username, setUsername] = useState(user.username);
  const { busy, error, run } = useAction();
  const [saved, setSaved] = useState(false);
  const dirty = email.trim() !== user.email || username !== user.username;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!dirty) return;
    setSaved(false);
    await run(async () => {
      const body: { email?: string; username?: string } = {};
      if (email.trim() !== user.email) body.email = email.trim();
      if (username !== user.username) body.username = username;
      const next = await endpoints.updateMe(body);
      updateUser(next);
      setEmail(next.email);
      setUsername(next.username);
      setSaved(true);
    });
  };
  const { fields, form } = splitErrors(error, ['email', 'username']);

  return (
    <Card headingId="profile-heading" title="Profile" onSubmit={submit}>
      <div className="form-grid">
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          value={email}
          onChange={(e) => {
            setEmail(e.currentTarget.value);
            setSaved(false);
          }}
          error={fields.email}
        />
        <TextField
          label="Username"
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          value={username}
          onChange={(e) => {
            setUsername(e.currentTarget.value.toLowerCase());
            setSaved(false);
          }}
          error={fields.username}
        />
      </div>
      <FormSubmit form={form} busy={busy} disabled={!dirty} label="Save profile">
        <span className="form-status" role="status">
          {saved ? 'Saved.' : ''}
        </span>
      </FormSubmit>
    </Card>
  );
}

function PasswordForm() {
  const { setNotice } = useAuth();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const { busy, error, setError, run } = useAction({ keepBusy: true });
  const [local, setLocal] = useState<Record<string, string>>({});

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!current) problems.current_password = 'Enter your current password.';
    if (next.length < 10) problems.new_password = 'Use at least 10 characters.';
    else if (next.length > 256) problems.new_password = 'Use at most 256 characters.';
    if (confirm !== next) problems.confirm = 'The passwords do not match.';
    setLocal(problems);
    setError(null);
    if (Object.keys(problems).length) return;
    await run(async () => {
      await endpoints.changePassword({ current_password: current, new_password: next });
      // Every refresh token was revoked server-side: start over at the login page.
      clearSession('logout');
      setNotice('Your password was changed. Log in with the new password.');
      navigate('/login', { replace: true });
    });
  };
  const { fields, form } = splitErrors(error, ['current_password', 'new_password']);
  const wrongCurrent =
    error && !fields.current_password && (error as { code?: string }).code === 'invalid_credentials';

  return (
    <Card headingId="password-heading" title="Change password" onSubmit={submit}>
      <p className="muted small">You will be signed out everywhere and asked to log in again.</p>
      <div className="form-grid">
        <TextField
          label="Current password"
          type="password"
          name="current_password"
          autoComplete="current-password"
          value={current}
          onChange={(e) => setCurrent(e.currentTarget.value)}
          error={local.current_password ?? fields.current_password ?? (wrongCurrent ? form : null)}
        />
        <TextField
          label="New password"
          type="password"
          name="new_password"
          autoComplete="new-password"
          hint="At least 10 characters."
          value={next}
          onChange={(e) => setNext(e.currentTarget.value)}
          error={local.new_password ?? fields.new_password}
        />
        <TextField
          label="Confirm new password"
          type="password"
          name="confirm"
          autoComplete="new-password"
          value={confirm}
          onChange={(e) => setConfirm(e.currentTarget.value)}
          error={local.confirm}
        />
      </div>
      <FormSubmit form={wrongCurrent ? null : form} busy={busy} label="Change password" />
    </Card>
  );
}

function DeleteAccount() {
  const { setNotice } = useAuth();
  const [password, setPassword] = useState('');
  const [open, setOpen] = useState(false);
  const [localError, setLocalError] = useState<string | null>(null);

  return (
    <Card headingId="delete-heading" title="Delete account" className="danger-card">
      <p>
        Deletes your account, all your skills and versions, and revokes all your tokens. This cannot be
        undone.
      </p>
      <form
        className="inline-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!password) {
            setLocalError('Enter your password to confirm.');
            return;
          }
          setLocalError(null);
          setOpen(true);
        }}
      >
        <TextField
          label="Password"
          type="password"
          name="delete_password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={localError}
        />
        <Button type="submit" variant="danger">
          Delete my account…
        </Button>
      </form>
      <ConfirmDialog
        open={open}
        title="Delete your account?"
        confirmLabel="Delete account"
        danger
        onClose={() => setOpen(false)}
        onConfirm={async () => {
          await endpoints.deleteMe(password);
          setOpen(false);
          clearSession('logout');
          setNotice('Your account was deleted.');
          toast('Account deleted');
          navigate('/login', { replace: true });
        }}
      >
        <p>All your skills, versions and tokens will be deleted permanently.</p>
      </ConfirmDialog>
    </Card>
  );
}

export function AccountPage() {
  useDocumentTitle('Account');
  const { user } = useAuth();
  if (!user) return null;
  return (
    <>
      <PageHeader
        title="Account"
        description={
          <>
            Signed in as <strong>{user.username}</strong>{' '}
            {user.is_admin && <Badge tone="accent">Admin</Badge>} · member since {formatDay(user.created_at)}
          </>
        }
      />
      <ProfileForm key={user.updated_at} user={user} />
      <PasswordForm />
      <DeleteAccount />
    </>
  );
}
