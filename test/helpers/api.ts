/** A minimal JSON client for tests: real HTTP against a TestServer. */
export interface ApiResponse<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export class Api {
  constructor(
    readonly baseUrl: string,
    public token?: string,
  ) {}

  withToken(token: string | undefined): Api {
    return new Api(this.baseUrl, token);
  }

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token && !('authorization' in h)) h.authorization = `Bearer ${this.token}`;
    let payload: BodyInit | undefined;
    if (body instanceof Uint8Array) {
      payload = body as unknown as BodyInit;
      h['content-type'] ??= 'application/zip';
    } else if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.baseUrl + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  }

  get = <T = any>(path: string, headers?: Record<string, string>) =>
    this.request<T>('GET', path, undefined, headers);
  post = <T = any>(path: string, body?: unknown, headers?: Record<string, string>) =>
    this.request<T>('POST', path, body, headers);
  patch = <T = any>(path: string, body?: unknown) => this.request<T>('PATCH', path, body);
  delete = <T = any>(path: string, body?: unknown) => this.request<T>('DELETE', path, body);
}

let counter = 0;
/** Registers a fresh user and returns an Api authenticated as them (console session). */
export async function registerUser(
  api: Api,
  name = `user${Date.now().toString(36)}${counter++}`,
): Promise<{ api: Api; user: any; password: string; refreshToken: string; email: string }> {
  const password = `pw-${name}-long-enough`;
  const email = `${name}@example.com`;
  const res = await api.post('/api/v1/auth/register', { email, username: name, password });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return {
    api: api.withToken(res.body.access_token),
    user: res.body.user,
    password,
    refreshToken: res.body.refresh_token,
    email,
  };
}

/** Creates an API token for the given session and returns its plaintext. */
export async function createApiToken(
  session: Api,
  scopes: string[] = ['mcp'],
  name = 'test',
): Promise<string> {
  const res = await session.post('/api/v1/tokens', { name, scopes });
  if (res.status !== 201) throw new Error(`token create failed: ${res.status} ${res.text}`);
  return res.body.token;
}
