import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { endpoints } from '../api/endpoints';
import { useAuth } from '../auth';
import { Link, useLocation } from '../router';
import { Icon } from './ui';
import { Toaster } from './Toaster';

interface NavItem {
  to: string;
  label: string;
  active: (path: string) => boolean;
  admin?: boolean;
}

const NAV: NavItem[] = [
  {
    to: '/skills',
    label: 'Skills',
    active: (p) => p === '/skills' || (p.startsWith('/skills/') && p !== '/skills/new'),
  },
  { to: '/skills/new', label: 'Upload', active: (p) => p === '/skills/new' },
  { to: '/assistants', label: 'Assistants', active: (p) => p.startsWith('/assistants') },
  { to: '/tokens', label: 'API tokens', active: (p) => p.startsWith('/tokens') },
  { to: '/mcp-servers', label: 'MCP servers', active: (p) => p.startsWith('/mcp-servers') },
  { to: '/connect', label: 'Connect a client', active: (p) => p.startsWith('/connect') },
  { to: '/audit', label: 'Activity', active: (p) => p.startsWith('/audit') },
  { to: '/admin', label: 'Admin', active: (p) => p.startsWith('/admin'), admin: true },
];

export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="8" fill="var(--accent)" />
      <path
        d="M9 11.5 16 8l7 3.5v9L16 24l-7-3.5z"
        fill="none"
        stroke="#fff"
        strokeWidth="2"
        strokeLinejoin="round"
      />
      <path
        d="M9 11.5 16 15l7-3.5M16 15v9"
        fill="none"
        stroke="#fff"
        strokeWidth="2"
        strokeLinejoin="round"
      />
    </svg>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const { pathname } = useLocation();
  const [open, setOpen] = useState(false);
  const [loggingOut, setLoggingOut] = useState(false);

  useEffect(() => setOpen(false), [pathname]);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        document.getElementById('nav-toggle')?.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [open]);

  const logout = async () => {
    setLoggingOut(true);
    await endpoints.logout();
  };

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link to="/skills" className="brand">
            <Logo />
            <span>Skillport</span>
          </Link>
          <button
            id="nav-toggle"
            type="button"
            className="nav-toggle"
            aria-expanded={open}
            aria-controls="primary-nav"
            onClick={() => setOpen((o) => !o)}
          >
            <Icon name={open ? 'close' : 'menu'} />
            <span>Menu</span>
          </button>
          <nav id="primary-nav" aria-label="Main" className={`nav ${open ? 'is-open' : ''}`}>
            <ul className="nav-links">
              {NAV.filter((n) => !n.admin || user?.is_admin).map((n) => (
                <li key={n.to}>
                  <Link to={n.to} aria-current={n.active(pathname) ? 'page' : undefined}>
                    {n.label}
                  </Link>
                </li>
              ))}
            </ul>
            <div className="nav-user">
              <Link
                to="/account"
                aria-current={pathname.startsWith('/account') ? 'page' : undefined}
                className="nav-account"
              >
                <span className="avatar" aria-hidden="true">
                  {(user?.username ?? '?').slice(0, 1).toUpperCase()}
                </span>
                <span>
                  <span className="visually-hidden">Account: </span>
                  {user?.username}
                </span>
              </Link>
              <button type="button" className="btn btn-ghost btn-sm" onClick={logout} disabled={loggingOut}>
                Log out
              </button>
            </div>
          </nav>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="main">
        {children}
      </main>
      <Toaster />
    </div>
  );
}

export function AuthLayout({ children }: { children: ReactNode }) {
  return (
    <div className="auth-page">
      <main id="main" tabIndex={-1} className="auth-main">
        <div className="auth-brand">
          <Logo />
          <span>Skillport</span>
        </div>
        {children}
      </main>
      <Toaster />
    </div>
  );
}

/** Page header: one h1 per page (focused after navigation so screen readers announce the new page). */
export function PageHeader({
  title,
  description,
  actions,
  back,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  back?: { to: string; label: string };
}) {
  return (
    <div className="page-header">
      {back && (
        <Link to={back.to} className="back-link">
          <Icon name="back" />
          {back.label}
        </Link>
      )}
      <div className="page-header-row">
        <div className="page-header-text">
          <h1 tabIndex={-1}>{title}</h1>
          {description && <p className="page-description">{description}</p>}
        </div>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
    </div>
  );
}
