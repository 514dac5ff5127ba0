import { humanizeFieldMessage } from '../lib/fields';
import type { AuthResponse, ErrorDetails, ErrorEnvelope, User } from './types';

/**
 * The console's one door to the REST API.
 *
 * - The access token lives only in memory; the refresh token in localStorage.
 * - On a 401 the client refreshes once, transparently, and retries the request once.
 * - Refresh tokens rotate on every use, so refreshes are serialised: within the tab through one shared
 *   promise, across tabs through the Web Locks API (the refresh token is re-read inside the lock, so a tab
 *   that waited uses the token another tab just stored).
 */

export const API_BASE = '/api/v1';
const REFRESH_KEY = 'skillport.refresh_token';
const LOCK_NAME = 'skillport.refresh';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Field-level validation messages keyed by `details.fields[].path`. */
  get fields(): Record<string, string> {
    const out: Record<string, string> = {};
    // Checked all the same: the answer may come from something in front of the server.
    const list = this.details?.fields;
    if (Array.isArray(list)) {
      for (const f of list) {
        if (f && typeof f.path === 'string' && typeof f.message === 'string' && !(f.path in out)) {
          out[f.path] = humanizeFieldMessage(f.path, f.message);
        }
      }
    }
    return out;
  }
}

/** Human-readable text for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'rate_limited') {
      const retry = err.details?.retry_after;
      return retry ? `${err.message} Try again in ${retry} s.` : err.message;
    }
    return err.message || `Request failed (${err.status}).`;
  }
  if (err instanceof Error) return err.message;
  return 'Something went wrong.';
}

// ---------------------------------------------------------------------------------------------------
// Session state

type SessionListener = (user: User | null, reason?: 'expired' | 'logout') => void;

let accessToken: string | null = null;
let currentUser: User | null = null;
const listeners = new Set<SessionListener>();

export function onSessionChange(fn: SessionListener): () => void {
  listeners.add(fn);
  return () => {
    listeners.delete(fn);
  };
}

function emit(reason?: 'expired' | 'logout') {
  for (const fn of listeners) fn(currentUser, reason);
}

export function getUser(): User | null {
  return currentUser;
}

export function hasRefreshToken(): boolean {
  try {
    return !!localStorage.getItem(REFRESH_KEY);
  } catch {
    return false;
  }
}

export function readRefreshToken(): string | null {
  try {
    return localStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function writeRefreshToken(token: string | null) {
  try {
    if (token) localStorage.setItem(REFRESH_KEY, token);
    else localStorage.removeItem(REFRESH_KEY);
  } catch {
    /* storage unavailable (private mode): the session simply won't survive a reload */
  }
}

export function setSession(auth: AuthResponse) {
  accessToken = auth.access_token;
  currentUser = auth.user;
  writeRefreshToken(auth.refresh_token);
  emit();
}

export function updateUser(user: User) {
  currentUser = user;
  emit();
}

export function clearSession(reason: 'expired' | 'logout' = 'logout') {
  const had = accessToken !== null || currentUser !== null;
  accessToken = null;
  currentUser = null;
  writeRefreshToken(null);
  if (had || reason === 'logout') emit(reason);
}

let refreshing: Promise<boolean> | null = null;

/** Exchanges the stored refresh token for a new session. Concurrent callers share one attempt. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= runExclusive(doRefresh).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function runExclusive<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (locks?.request) return locks.request(LOCK_NAME, fn) as Promise<T>;
  return fn();
}

async function doRefresh(): Promise<boolean> {
  const token = readRefreshToken();
  if (!token) return false;
  let res: Response;
  try {
    res = await fetch(`${API_BASE}/auth/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ refresh_token: token }),
    });
  } catch {
    return false; // network trouble: keep the refresh token, the user may retry
  }
  if (!res.ok) {
    // Only forget the token when it is definitely dead, not on a transient server error.
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      if (readRefreshToken() === token) writeRefreshToken(null);
    }
    return false;
  }
  setSession((await res.json()) as AuthResponse);
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Requests

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  /** Send the bearer token and refresh on 401 (default true). */
  auth?: boolean;
  signal?: AbortSignal;
  /** Extra request headers (the chat playground's opt-ins). */
  headers?: Record<string, string>;
}

export function buildUrl(path: string, query?: RequestOptions['query']): string {
  const url = path.startsWith('http') ? path : `${API_BASE}${path}`;
  if (!query) return url;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${url}?${qs}` : url;
}

async function toApiError(res: Response): Promise<ApiError> {
  let payload: unknown = null;
  try {
    payload = await res.json();
  } catch {
    /* not JSON */
  }
  const e = (payload as Partial<ErrorEnvelope> | null)?.error;
  const fallback =
    res.status === 413
      ? 'The file is too large for this server.'
      : res.status >= 500
        ? 'The server had a problem. Please try again.'
        : `Request failed (${res.status}).`;
  return new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message || fallback, e?.details);
}

/** Whether a 401 means "your access token is stale" (worth a refresh) rather than "wrong password". */
function shouldRefresh(err: ApiError): boolean {
  return err.status === 401 && err.code !== 'invalid_credentials';
}

async function rawFetch(path: string, opts: RequestOptions, accept: string): Promise<Response> {
  const auth = opts.auth ?? true;
  const send = () => {
    const headers: Record<string, string> = { Accept: accept, ...opts.headers };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && accessToken) headers.Authorization = `Bearer ${accessToken}`;
    return fetch(buildUrl(path, opts.query), {
      method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'),
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
    });
  };

  const sentWith = accessToken;
  let res: Response;
  try {
    res = await send();
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check your connection.');
  }
  if (res.ok || !auth) {
    if (!res.ok) throw await toApiError(res);
    return res;
  }
  let err = await toApiError(res);
  if (shouldRefresh(err)) {
    // Another request may already have refreshed while this one was in flight.
    const ok = accessToken && accessToken !== sentWith ? true : await refreshSession();
    if (!ok) {
      clearSession('expired');
      throw err;
    }
    res = await send();
    if (res.ok) return res;
    err = await toApiError(res);
  }
  throw err;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await rawFetch(path, opts, 'application/json');
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A streaming POST (the chat playground's server-sent events) with auth + refresh; the caller reads the body. */
export function apiStream(url: string, opts: RequestOptions): Promise<Response> {
  return rawFetch(url, { ...opts, method: 'POST' }, 'text/event-stream');
}

/** GET raw bytes (file contents, zip downloads) with auth + refresh. */
export async function apiBlob(path: string, signal?: AbortSignal): Promise<Blob> {
  const res = await rawFetch(path, { signal }, '*/*');
  return res.blob();
}

/** Downloads an authenticated resource by handing the browser an object URL. */
export async function downloadFile(path: string, filename: string): Promise<void> {
  const blob = await apiBlob(path);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

// ---------------------------------------------------------------------------------------------------
// Uploads (XMLHttpRequest, for upload progress)

export interface UploadProgress {
  loaded: number;
  total: number;
}

function xhrUpload<T>(
  path: string,
  body: Blob,
  onProgress: (p: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', buildUrl(path));
    xhr.setRequestHeader('Content-Type', 'application/zip');
    xhr.setRequestHeader('Accept', 'application/json');
    if (accessToken) xhr.setRequestHeader('Authorization', `Bearer ${accessToken}`);
    xhr.upload.onprogress = (e) =>
      onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : body.size });
    xhr.onload = () => {
      let json: unknown = null;
      try {
        json = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        /* not JSON */
      }
      resolve({ status: xhr.status, json: json as T });
    };
    xhr.onerror = () =>
      reject(new ApiError(0, 'network_error', 'The upload failed: could not reach the server.'));
    xhr.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

function xhrError(status: number, json: unknown): ApiError {
  const e = (json as Partial<ErrorEnvelope> | null)?.error;
  const fallback =
    status === 413 ? 'The file is too large for this server.' : `The upload failed (${status}).`;
  return new ApiError(status, e?.code ?? `http_${status}`, e?.message || fallback, e?.details);
}

export async function uploadZip<T>(
  path: string,
  body: Blob,
  onProgress: (p: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<T> {
  const sentWith = accessToken;
  let r = await xhrUpload<T>(path, body, onProgress, signal);
  if (r.status === 401) {
    const err = xhrError(r.status, r.json);
    if (!shouldRefresh(err)) throw err;
    const ok = accessToken && accessToken !== sentWith ? true : await refreshSession();
    if (!ok) {
      clearSession('expired');
      throw err;
    }
    onProgress({ loaded: 0, total: body.size });
    r = await xhrUpload<T>(path, body, onProgress, signal);
  }
  if (r.status < 200 || r.status >= 300) throw xhrError(r.status, r.json);
  return r.json as T;
}
