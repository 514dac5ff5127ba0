import { useEffect, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { endpoints } from '../api/endpoints';
import type { ServerInfo } from '../api/types';
import { useAuth } from '../auth';
import { AuthLayout } from '../components/Layout';
import { Alert, FormSubmit, TextField, splitErrors } from '../components/ui';
import { useAction, useDocumentTitle } from '../lib/hooks';
import { Link, useLocation } from '../router';

function useServerInfo(): ServerInfo | null {
  const [info, setInfo] = useState<ServerInfo | null>(null);
  useEffect(() => {
    endpoints.info().then(setInfo, () => setInfo(null));
  }, []);
  return info;
}

function nextParam(search: URLSearchParams): string {
  const next = search.get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? `?next=${encodeURIComponent(next)}` : '';
}

function AuthCard({
  title,
  subtitle,
  footer,
  children,
}: {
  title: string;
  subtitle: ReactNode;
  footer: ReactNode;
  children: ReactNode;
}) {
  return (
    <AuthLayout>
      <div className="auth-card">
        <h1 tabIndex={-1}>{title}</h1>
        <p className="auth-sub">{subtitle}</p>
        {children}
        <p className="auth-switch">{footer}</p>
      </div>
    </AuthLayout>
  );
}

export function LoginPage() {
  useDocumentTitle('Log in');
  const { notice, setNotice } = useAuth();
  const { search } = useLocation();
  const info = useServerInfo();
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, setError, run } = useAction({ keepBusy: true });
  const [local, setLocal] = useState<Record<string, string>>({});

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!login.trim()) problems.login = 'Enter your email or username.';
    if (!password) problems.password = 'Enter your password.';
    setLocal(problems);
    setError(null);
    if (Object.keys(problems).length) return;
    await run(async () => {
      await endpoints.login({ login: login.trim(), password });
      setNotice(null);
      // The router sends authenticated users on to ?next= (or the skills list).
    });
  };

  const { fields, form } = splitErrors(error, ['login', 'password']);

  return (
    <AuthCard
      title="Log in"
      subtitle="Your private library of Agent Skills, served over MCP."
      footer={
        info?.signup === 'closed' ? (
          'New accounts are created by an administrator on this server.'
        ) : (
          <>
            New here? <Link to={`/signup${nextParam(search)}`}>Create an account</Link>
          </>
        )
      }
    >
      {notice && (
        <Alert kind="info" className="mb">
          {notice}
        </Alert>
      )}
      <form onSubmit={submit} noValidate className="stack">
        <TextField
          label="Email or username"
          name="login"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          value={login}
          onChange={(e) => setLogin(e.currentTarget.value)}
          error={local.login ?? fields.login}
          required
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={local.password ?? fields.password}
          required
        />
        <FormSubmit form={form} busy={busy} label="Log in" block />
      </form>
    </AuthCard>
  );
}

const USERNAME_RE = /^[a-z0-9][a-z0-9_-]{2,31}$/;

export function SignupPage() {
  useDocumentTitle('Sign up');
  const info = useServerInfo();
  const { search } = useLocation();
  const [email, setEmail] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, setError, run } = useAction({ keepBusy: true });
  const [local, setLocal] = useState<Record<string, string>>({});

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!/^[^\s@]+@[^\s@]+$/.test(email.trim())) problems.email = 'Enter a valid email address.';
    if (!USERNAME_RE.test(username))
      problems.username =
        '3–32 characters: lowercase letters, digits, “_” or “-”, starting with a letter or digit.';
    if (password.length < 10) problems.password = 'Use at least 10 characters.';
    else if (password.length > 256) problems.password = 'Use at most 256 characters.';
    setLocal(problems);
    setError(null);
    if (Object.keys(problems).length) {
      const first = Object.keys(problems)[0];
      document.querySelector<HTMLInputElement>(`input[name="${first}"]`)?.focus();
      return;
    }
    await run(async () => {
      await endpoints.register({ email: email.trim(), username, password });
    });
  };

  const { fields, form } = splitErrors(error, ['email', 'username', 'password']);
  const closed = info?.signup === 'closed';

  return (
    <AuthCard
      title="Create your account"
      subtitle="Keep your skills versioned and private; connect any MCP client with a token."
      footer={
        <>
          Already have an account? <Link to={`/login${nextParam(search)}`}>Log in</Link>
        </>
      }
    >
      {closed ? (
        <Alert kind="info" title="Sign-up is closed on this server">
          Ask an administrator to create an account for you.
        </Alert>
      ) : (
        <form onSubmit={submit} noValidate className="stack">
          <TextField
            label="Email"
            name="email"
            type="email"
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={local.email ?? fields.email}
            required
          />
          <TextField
            label="Username"
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            hint="3–32 characters: a–z, 0–9, “_” and “-”."
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value.toLowerCase())}
            error={local.username ?? fields.username}
            required
          />
          <TextField
            label="Password"
            name="password"
            type="password"
            autoComplete="new-password"
            hint="At least 10 characters. Common passwords are refused."
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={local.password ?? fields.password}
            required
          />
          <FormSubmit form={form} busy={busy} label="Create account" block />
        </form>
      )}
    </AuthCard>
  );
}
