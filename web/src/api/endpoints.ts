import { api, apiBlob, clearSession, downloadFile, readRefreshToken, setSession, uploadZip } from './client';
import type { UploadProgress } from './client';
import type {
  Assistant,
  AssistantInput,
  Body,
  ModelProvider,
  McpServer,
  ApiKeyChanges,
  ApiToken,
  AuditQuery,
  AuthResponse,
  CreatedApiToken,
  Ok,
  OAuthAuthorizationRequest,
  SearchResults,
  SearchStatus,
  ServerInfo,
  ServerSettings,
  Skill,
  UploadResult,
  User,
} from './types';

const enc = encodeURIComponent;
const skillPath = (name: string) => `/skills/${enc(name)}`;
const filePath = (path: string) => path.split('/').map(enc).join('/');

let infoPromise: Promise<ServerInfo> | null = null;

export const endpoints = {
  // --- model providers and assistants
  providers: () => api<Ok<'getProviders'>>('/providers').then((r) => r.items),
  createProvider: (body: Body<'postProviders'>) => api<ModelProvider>('/providers', { body }),
  deleteProvider: (id: string) => api<void>(`/providers/${enc(id)}`, { method: 'DELETE' }),
  checkProvider: (id: string) =>
    api<Ok<'postProvidersByIdCheck'>>(`/providers/${enc(id)}/check`, {
      method: 'POST',
    }),
  assistants: () => api<Ok<'getAssistants'>>('/assistants').then((r) => r.items),
  createAssistant: (body: AssistantInput) => api<Assistant>('/assistants', { body }),
  updateAssistant: (id: string, body: AssistantInput) =>
    api<Assistant>(`/assistants/${enc(id)}`, { method: 'PATCH', body }),
  deleteAssistant: (id: string) => api<void>(`/assistants/${enc(id)}`, { method: 'DELETE' }),
  sessions: () => api<Ok<'getSessions'>>('/sessions').then((r) => r.items),
  deleteSession: (id: string) => api<void>(`/sessions/${enc(id)}`, { method: 'DELETE' }),
  assistantUsage: (id: string) =>
    api<Ok<'getAssistantsByIdUsage'>>(`/assistants/${enc(id)}/usage`).then((r) => r.items),

  info(): Promise<ServerInfo> {
    infoPromise ??= api<ServerInfo>('/info', { auth: false }).catch((err: unknown) => {
      infoPromise = null;
      throw err;
    });
    return infoPromise;
  },

  // --- auth
  async register(body: Body<'postAuthRegister'>): Promise<User> {
    const res = await api<AuthResponse>('/auth/register', { body, auth: false });
    setSession(res);
    return res.user;
  },
  async login(body: Body<'postAuthLogin'>): Promise<User> {
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
  updateMe: (body: Body<'patchUsersMe'>) => api<User>('/users/me', { method: 'PATCH', body }),
  changePassword: (body: Body<'postUsersMePassword'>) =>
    api<void>('/users/me/password', { method: 'POST', body }),
  deleteMe: (password: string) => api<void>('/users/me', { method: 'DELETE', body: { password } }),

  // --- admin
  listUsers: (query: { q?: string; cursor?: string | null; limit?: number }) =>
    api<Ok<'getUsers'>>('/users', { query }),
  createUser: (body: Body<'postUsers'>) => api<User>('/users', { body }),
  updateUser: (id: string, body: Body<'patchUsersById'>) =>
    api<User>(`/users/${enc(id)}`, { method: 'PATCH', body }),
  deleteUser: (id: string) => api<void>(`/users/${enc(id)}`, { method: 'DELETE' }),
  resetPassword: (id: string, password: string) =>
    api<void>(`/users/${enc(id)}/password`, { body: { password } }),
  settings: () => api<ServerSettings>('/admin/settings'),
  updateSettings: (body: Body<'patchAdminSettings'>) =>
    api<ServerSettings>('/admin/settings', { method: 'PATCH', body }),

  // --- tokens
  listTokens: (cursor?: string | null) =>
    api<Ok<'getApiKeys'>>('/api-keys', { query: { cursor, limit: 100 } }),
  createToken: (body: Body<'postApiKeys'>) => api<CreatedApiToken>('/api-keys', { body }),
  updateToken: (id: string, body: ApiKeyChanges) =>
    api<ApiToken>(`/api-keys/${enc(id)}`, { method: 'PUT', body }),
  revokeToken: (id: string) => api<void>(`/api-keys/${enc(id)}`, { method: 'DELETE' }),

  // --- OAuth: the consent page and connected applications
  authorization: (uid: string) => api<OAuthAuthorizationRequest>(`/oauth/authorizations/${enc(uid)}`),
  decideAuthorization: (uid: string, body: Body<'postOauthAuthorizationsByUid'>) =>
    api<Ok<'postOauthAuthorizationsByUid'>>(`/oauth/authorizations/${enc(uid)}`, { body }),
  listConnections: () => api<Ok<'getOauthConnections'>>('/oauth/connections'),
  revokeConnection: (id: string) => api<void>(`/oauth/connections/${enc(id)}`, { method: 'DELETE' }),

  // --- search
  search: (q: string, limit = 10) => api<SearchResults>('/search', { query: { q, limit } }),
  searchStatus: () => api<SearchStatus>('/admin/search'),
  reindexSearch: () => api<Ok<'postAdminSearchReindex'>>('/admin/search/reindex', { method: 'POST' }),

  // --- upstream MCP servers
  listMcpServers: () => api<Ok<'getMcpServers'>>('/mcp-servers'),
  createMcpServer: (body: Body<'postMcpServers'>) => api<McpServer>('/mcp-servers', { body }),
  updateMcpServer: (id: string, body: Body<'putMcpServersById'>) =>
    api<McpServer>(`/mcp-servers/${enc(id)}`, { method: 'PUT', body }),
  deleteMcpServer: (id: string) => api<void>(`/mcp-servers/${enc(id)}`, { method: 'DELETE' }),
  mcpServerAction: (id: string, action: 'start' | 'stop' | 'restart') =>
    api<McpServer>(`/mcp-servers/${enc(id)}/${action}`, { method: 'POST' }),
  hideMcpServer: (id: string, hidden: boolean) =>
    api<McpServer>(`/mcp-servers/${enc(id)}/hidden`, { method: 'PUT', body: { hidden } }),
  mcpServerStderr: (id: string) => api<Ok<'getMcpServersByIdStderr'>>(`/mcp-servers/${enc(id)}/stderr`),

  // --- skills
  listSkills: (query: {
    q?: string;
    scope?: 'all' | 'own' | 'shared';
    include_disabled?: boolean;
    cursor?: string | null;
    limit?: number;
  }) => api<Ok<'getSkills'>>('/skills', { query }),
  getSkill: (name: string) => api<Skill>(skillPath(name)),
  updateSkill: (name: string, body: Body<'patchSkillsByName'>) =>
    api<Skill>(skillPath(name), { method: 'PATCH', body }),
  deleteSkill: (name: string) => api<void>(skillPath(name), { method: 'DELETE' }),
  createSkill: (zip: Blob, onProgress: (p: UploadProgress) => void, signal?: AbortSignal) =>
    uploadZip<UploadResult>('/skills', zip, onProgress, signal),
  uploadVersion: (name: string, zip: Blob, onProgress: (p: UploadProgress) => void, signal?: AbortSignal) =>
    uploadZip<UploadResult>(`${skillPath(name)}/versions`, zip, onProgress, signal),
  listVersions: (name: string) =>
    api<Ok<'getSkillsByNameVersions'>>(`${skillPath(name)}/versions`, { query: { limit: 100 } }),
  rollback: (name: string, version: number) =>
    api<Skill>(`${skillPath(name)}/rollback`, { body: { version } }),
  deleteVersion: (name: string, version: number) =>
    api<void>(`${skillPath(name)}/versions/${version}`, { method: 'DELETE' }),
  listFiles: (name: string, version: number | 'latest') =>
    api<Ok<'getSkillsByNameVersionsByVersionFiles'>>(`${skillPath(name)}/versions/${version}/files`),
  fileBlob: (name: string, version: number | 'latest', path: string, signal?: AbortSignal) =>
    apiBlob(`${skillPath(name)}/versions/${version}/files/${filePath(path)}`, signal),
  downloadVersion: (name: string, version: number) =>
    downloadFile(`${skillPath(name)}/versions/${version}/content`, `${name}-v${version}.zip`),

  // --- audit
  audit: (query: AuditQuery & { cursor?: string | null; limit?: number }) =>
    api<Ok<'getAudit'>>('/audit', { query }),
};
