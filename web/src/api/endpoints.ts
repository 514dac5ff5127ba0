import { api, apiBlob, clearSession, downloadFile, readRefreshToken, setSession, uploadZip } from './client';
import type { UploadProgress } from './client';
import type {
  Assistant,
  AssistantInput,
  AssistantUsage,
  ChatSession,
  ModelProvider,
  McpServer,
  ApiKeyChanges,
  ApiToken,
  AuditEntry,
  AuditQuery,
  AuthResponse,
  CreatedApiToken,
  OAuthAuthorizationRequest,
  OAuthConnection,
  Page,
  SearchResults,
  SearchStatus,
  ServerInfo,
  ServerSettings,
  Skill,
  SkillFile,
  SkillVersion,
  UploadResult,
  User,
} from './types';

const enc = encodeURIComponent;
const skillPath = (name: string) => `/skills/${enc(name)}`;
const filePath = (path: string) => path.split('/').map(enc).join('/');

let infoPromise: Promise<ServerInfo> | null = null;

export const endpoints = {
  // --- model providers and assistants
  providers: () => api<{ items: ModelProvider[] }>('/providers').then((r) => r.items),
  createProvider: (body: { name: string; kind: string; base_url: string; api_key?: string }) =>
    api<ModelProvider>('/providers', { body }),
  deleteProvider: (id: string) => api<void>(`/providers/${enc(id)}`, { method: 'DELETE' }),
  checkProvider: (id: string) =>
    api<{ ok: boolean; models: string[]; error: string | null }>(`/providers/${enc(id)}/check`, {
      method: 'POST',
    }),
  assistants: () => api<{ items: Assistant[] }>('/assistants').then((r) => r.items),
  createAssistant: (body: Partial<AssistantInput>) => api<Assistant>('/assistants', { body }),
  updateAssistant: (id: string, body: Partial<AssistantInput>) =>
    api<Assistant>(`/assistants/${enc(id)}`, { method: 'PATCH', body }),
  deleteAssistant: (id: string) => api<void>(`/assistants/${enc(id)}`, { method: 'DELETE' }),
  sessions: () => api<{ items: ChatSession[] }>('/sessions').then((r) => r.items),
  deleteSession: (id: string) => api<void>(`/sessions/${enc(id)}`, { method: 'DELETE' }),
  assistantUsage: (id: string) =>
    api<{ items: AssistantUsage[] }>(`/assistants/${enc(id)}/usage`).then((r) => r.items),

  info(): Promise<ServerInfo> {
    infoPromise ??= api<ServerInfo>('/info', { auth: false }).catch((err: unknown) => {
      infoPromise = null;
      throw err;
    });
    return infoPromise;
  },

  // --- auth
  async register(body: { email: string; username: string; password: string }): Promise<User> {
    const res = await api<AuthResponse>('/auth/register', { body, auth: false });
    setSession(res);
    return res.user;
  },
  async login(body: { login: string; password: string }): Promise<User> {
    const res = await api<AuthResponse>('/auth/login', { body, auth: false });
    setSession(res);
    return res.user;
  },
  async logout(): Promise<void> {
    const refresh_token = readRefreshToken();
    try {
      if (refresh_token) await api<void>('/auth/logout', { body: { refresh_token }, auth: false });
    } catch {
      /* the session is dropped locally either way */
    } finally {
      clearSession('logout');
    }
  },

  // --- me
  me: () => api<User>('/users/me'),
  updateMe: (body: { email?: string; username?: string }) =>
    api<User>('/users/me', { method: 'PATCH', body }),
  changePassword: (body: { current_password: string; new_password: string }) =>
    api<void>('/users/me/password', { method: 'POST', body }),
  deleteMe: (password: string) => api<void>('/users/me', { method: 'DELETE', body: { password } }),

  // --- admin
  listUsers: (query: { q?: string; cursor?: string | null; limit?: number }) =>
    api<Page<User>>('/users', { query }),
  createUser: (body: { email: string; username: string; password: string; is_admin?: boolean }) =>
    api<User>('/users', { body }),
  updateUser: (id: string, body: { disabled?: boolean; is_admin?: boolean }) =>
    api<User>(`/users/${enc(id)}`, { method: 'PATCH', body }),
  deleteUser: (id: string) => api<void>(`/users/${enc(id)}`, { method: 'DELETE' }),
  resetPassword: (id: string, password: string) =>
    api<void>(`/users/${enc(id)}/password`, { body: { password } }),
  settings: () => api<ServerSettings>('/admin/settings'),
  updateSettings: (body: Partial<ServerSettings>) =>
    api<ServerSettings>('/admin/settings', { method: 'PATCH', body }),

  // --- tokens
  listTokens: (cursor?: string | null) => api<Page<ApiToken>>('/api-keys', { query: { cursor, limit: 100 } }),
  createToken: (body: ApiKeyChanges & { name: string; expires_at?: string }) =>
    api<CreatedApiToken>('/api-keys', { body }),
  updateToken: (id: string, body: ApiKeyChanges) =>
    api<ApiToken>(`/api-keys/${enc(id)}`, { method: 'PUT', body }),
  revokeToken: (id: string) => api<void>(`/api-keys/${enc(id)}`, { method: 'DELETE' }),

  // --- OAuth: the consent page and connected applications
  authorization: (uid: string) => api<OAuthAuthorizationRequest>(`/oauth/authorizations/${enc(uid)}`),
  decideAuthorization: (uid: string, body: { approve: boolean; restriction: { skills: string[] } | null }) =>
    api<{ redirect_to: string }>(`/oauth/authorizations/${enc(uid)}`, { body }),
  listConnections: () => api<{ data: OAuthConnection[] }>('/oauth/connections'),
  revokeConnection: (id: string) => api<void>(`/oauth/connections/${enc(id)}`, { method: 'DELETE' }),

  // --- search
  search: (q: string, limit = 10) => api<SearchResults>('/search', { query: { q, limit } }),
  searchStatus: () => api<SearchStatus>('/admin/search'),
  reindexSearch: () => api<{ queued: true }>('/admin/search/reindex', { method: 'POST' }),

  // --- upstream MCP servers
  listMcpServers: () => api<{ items: McpServer[] }>('/mcp-servers'),
  createMcpServer: (body: Record<string, unknown>) => api<McpServer>('/mcp-servers', { body }),
  updateMcpServer: (id: string, body: Record<string, unknown>) =>
    api<McpServer>(`/mcp-servers/${enc(id)}`, { method: 'PUT', body }),
  deleteMcpServer: (id: string) => api<void>(`/mcp-servers/${enc(id)}`, { method: 'DELETE' }),
  mcpServerAction: (id: string, action: 'start' | 'stop' | 'restart') =>
    api<McpServer>(`/mcp-servers/${enc(id)}/${action}`, { method: 'POST' }),
  hideMcpServer: (id: string, hidden: boolean) =>
    api<McpServer>(`/mcp-servers/${enc(id)}/hidden`, { method: 'PUT', body: { hidden } }),
  mcpServerStderr: (id: string) => api<{ stderr: string }>(`/mcp-servers/${enc(id)}/stderr`),

  // --- skills
  listSkills: (query: {
    q?: string;
    scope?: 'all' | 'own' | 'shared';
    include_disabled?: boolean;
    cursor?: string | null;
    limit?: number;
  }) => api<Page<Skill>>('/skills', { query }),
  getSkill: (name: string) => api<Skill>(skillPath(name)),
  updateSkill: (
    name: string,
    body: { enabled?: boolean; run_commands_enabled?: boolean; shared?: boolean; hidden?: boolean },
  ) => api<Skill>(skillPath(name), { method: 'PATCH', body }),
  deleteSkill: (name: string) => api<void>(skillPath(name), { method: 'DELETE' }),
  createSkill: (zip: Blob, onProgress: (p: UploadProgress) => void, signal?: AbortSignal) =>
    uploadZip<UploadResult>('/skills', zip, onProgress, signal),
  uploadVersion: (name: string, zip: Blob, onProgress: (p: UploadProgress) => void, signal?: AbortSignal) =>
    uploadZip<UploadResult>(`${skillPath(name)}/versions`, zip, onProgress, signal),
  listVersions: (name: string) =>
    api<Page<SkillVersion>>(`${skillPath(name)}/versions`, { query: { limit: 100 } }),
  rollback: (name: string, version: number) =>
    api<Skill>(`${skillPath(name)}/rollback`, { body: { version } }),
  deleteVersion: (name: string, version: number) =>
    api<void>(`${skillPath(name)}/versions/${version}`, { method: 'DELETE' }),
  listFiles: (name: string, version: number | 'latest') =>
    api<{ files: SkillFile[] }>(`${skillPath(name)}/versions/${version}/files`),
  fileBlob: (name: string, version: number | 'latest', path: string, signal?: AbortSignal) =>
    apiBlob(`${skillPath(name)}/versions/${version}/files/${filePath(path)}`, signal),
  downloadVersion: (name: string, version: number) =>
    downloadFile(`${skillPath(name)}/versions/${version}/content`, `${name}-v${version}.zip`),

  // --- audit
  audit: (query: AuditQuery & { cursor?: string | null; limit?: number }) =>
    api<Page<AuditEntry>>('/audit', { query }),
};
