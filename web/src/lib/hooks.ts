import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage } from '../api/client';

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (update: T | ((prev: T | undefined) => T | undefined)) => void;
}

/** Runs `fn` when `deps` change; stale results (from older deps) are dropped. */
export function useAsync<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;

  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    setError(undefined);
    fnRef.current(ctrl.signal).then(
      (v) => {
        if (ctrl.signal.aborted) return;
        setData(v);
        setLoading(false);
      },
      (e: unknown) => {
        if (ctrl.signal.aborted) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => ctrl.abort();
  }, [...deps, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data, error, loading, reload, setData: setData as AsyncState<T>['setData'] };
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function useDocumentTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · Skillport` : 'Skillport';
  }, [title]);
}

/**
 * Busy and error state of one async action (a form submit, a download…). `run` never throws: a failure
 * lands in `error`. With `keepBusy`, success leaves `busy` on, for actions after which the page goes away.
 */
export function useAction({ keepBusy = false }: { keepBusy?: boolean } = {}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      if (!keepBusy) setBusy(false);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

/**
 * Busy and error state of per-row actions (a switch per setting, buttons per list row): `busy` is the key of
 * the action running, `errors` the last failure message per row (`row` defaults to the key). A row's error
 * is cleared when it acts again; with `oneError`, when any row acts. With `rethrow`, `run` also rejects.
 */
export function useRowActions({ oneError = false }: { oneError?: boolean } = {}) {
  const [busy, setBusy] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const run = async (
    key: string,
    fn: () => Promise<void>,
    { row = key, rethrow = false }: { row?: string; rethrow?: boolean } = {},
  ) => {
    setBusy(key);
    setErrors((e) => (oneError ? {} : { ...e, [row]: '' }));
    try {
      await fn();
    } catch (err) {
      setErrors((e) => ({ ...e, [row]: errorMessage(err) }));
      if (rethrow) throw err;
    } finally {
      setBusy(null);
    }
  };
  return { busy, errors, run };
}
