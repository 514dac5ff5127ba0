import { createContext, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { getUser, hasRefreshToken, onSessionChange, refreshSession } from './api/client';
import type { User } from './api/types';

export type AuthStatus = 'loading' | 'authenticated' | 'anonymous';

interface AuthValue {
  status: AuthStatus;
  user: User | null;
  /** A one-off message for the login page ("your session expired", "password changed"). */
  notice: string | null;
  setNotice: (n: string | null) => void;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(getUser());
  const [status, setStatus] = useState<AuthStatus>(
    getUser() ? 'authenticated' : hasRefreshToken() ? 'loading' : 'anonymous',
  );
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(
    () =>
      onSessionChange((u, reason) => {
        setUser(u);
        setStatus(u ? 'authenticated' : 'anonymous');
        if (u) setNotice(null);
        else if (reason === 'expired') setNotice('Your session has expired. Please log in again.');
      }),
    [],
  );

  useEffect(() => {
    if (status !== 'loading') return;
    let live = true;
    // Restore the session from the stored refresh token (access tokens only live in memory).
    void refreshSession().then((ok) => {
      if (live && !ok) setStatus(getUser() ? 'authenticated' : 'anonymous');
    });
    return () => {
      live = false;
    };
  }, [status]);

  const value = useMemo(() => ({ status, user, notice, setNotice }), [status, user, notice]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}
