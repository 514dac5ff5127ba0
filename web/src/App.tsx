import { useEffect, useRef } from 'react';
import type { ReactNode } from 'react';
import { useAuth } from './auth';
import { Layout, Logo, PageHeader } from './components/Layout';
import { EmptyState, Skeleton } from './components/ui';
import { useDocumentTitle } from './lib/hooks';
import { AccountPage } from './pages/Account';
import { AdminPage } from './pages/Admin';
import { AssistantsPage } from './pages/Assistants';
import { AuditPage } from './pages/Audit';
import { AuthorizePage } from './pages/Authorize';
import { LoginPage, SignupPage } from './pages/Auth';
import { ConnectPage } from './pages/Connect';
import { McpServersPage } from './pages/McpServers';
import { NewSkillPage } from './pages/NewSkill';
import { PlaygroundPage } from './pages/Playground';
import { SkillDetailPage } from './pages/SkillDetail';
import { SkillsPage } from './pages/Skills';
import { TokensPage } from './pages/Tokens';
import { Link, match, navigate, useLocation } from './router';

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function NotFound() {
  useDocumentTitle('Not found');
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState
        icon="search"
        title="There is nothing here"
        action={
          <Link to="/skills" className="btn btn-secondary">
            Go to your skills
          </Link>
        }
      >
        <p>The address may be mistyped, or the page may have moved.</p>
      </EmptyState>
    </>
  );
}

function protectedRoute(pathname: string): ReactNode {
  if (pathname === '/skills' || pathname === '/skills/') return <SkillsPage />;
  if (pathname === '/skills/new') return <NewSkillPage />;
  const skill = match('/skills/:name', pathname);
  if (skill?.name) return <SkillDetailPage key={skill.name} name={skill.name} />;
  if (pathname === '/tokens') return <TokensPage />;
  if (pathname === '/mcp-servers') return <McpServersPage />;
  if (pathname === '/connect') return <ConnectPage />;
  if (pathname === '/account') return <AccountPage />;
  if (pathname === '/admin') return <AdminPage />;
  if (pathname === '/audit') return <AuditPage />;
  const authorize = match('/authorize/:uid', pathname);
  if (authorize?.uid) return <AuthorizePage key={authorize.uid} uid={authorize.uid} />;
  if (pathname === '/assistants') return <AssistantsPage />;
  const chat = match('/assistants/:name/chat', pathname);
  if (chat?.name) return <PlaygroundPage key={chat.name} assistant={chat.name} />;
  return <NotFound />;
}

function BootScreen() {
  return (
    <div className="boot" aria-busy="true">
      <span className="visually-hidden" role="status">
        Loading Skillport…
      </span>
      <div className="topbar">
        <div className="topbar-inner">
          <span className="brand">
            <Logo />
            <span>Skillport</span>
          </span>
        </div>
      </div>
      <div className="main">
        <Skeleton height={32} className="w-40" />
        <Skeleton lines={3} height={80} />
      </div>
    </div>
  );
}

/** Moves focus to the new page's heading after client-side navigation, as a full page load would. */
function useFocusOnNavigate(pathname: string) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const id = requestAnimationFrame(() => {
      const h1 = document.querySelector<HTMLElement>('main h1');
      const main = document.getElementById('main');
      (h1 ?? main)?.focus({ preventScroll: true });
    });
    return () => cancelAnimationFrame(id);
  }, [pathname]);
}

export function App() {
  const { status } = useAuth();
  const { pathname, search } = useLocation();
  useFocusOnNavigate(pathname);

  if (status === 'loading') return <BootScreen />;

  const isPublic = pathname === '/login' || pathname === '/signup';
  if (status === 'anonymous') {
    if (isPublic) return pathname === '/login' ? <LoginPage /> : <SignupPage />;
    const next = pathname === '/' ? '' : `?next=${encodeURIComponent(pathname + window.location.search)}`;
    return <Redirect to={`/login${next}`} />;
  }

  if (isPublic || pathname === '/') {
    const next = search.get('next');
    const safe =
      next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/skills';
    return <Redirect to={safe} />;
  }

  return <Layout>{protectedRoute(pathname)}</Layout>;
}
