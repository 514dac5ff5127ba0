// Shapes of the public REST API (/api/v1). Kept deliberately close to the wire format (snake_case).

export interface User {
  id: string;
  email: string;
  username: string;
  is_admin: boolean;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface AuthResponse {
  user: User;
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface ServerInfo {
  version: string;
  public_url: string | null;
  mcp_url: string | null;
  sse_url: string | null;
  signup: 'open' | 'closed';
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type TokenScope = 'mcp' | 'api';

/** What an API key may do (see README, "API keys"). */
export interface KeyPermissions {
  can_manage: boolean;
  can_call_assistant: boolean;
  can_use_mcp: boolean;
  can_admin: boolean;
}

export interface ApiToken extends KeyPermissions {
  id: string;
  name: string;
  prefix: string;
  /** The permissions in the older /tokens shape. */
  scopes: TokenScope[];
  /** Empty = all of the owner's assistants. */
  assistant_ids: string[];
  /** Null = no restriction; a list left out does not restrict. */
  restriction: KeyRestriction | null;
  is_disabled: boolean;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
  revoked_at: string | null;
}

/**
 * `skills`: only these skills' tools; `servers`: only these upstream MCP servers' tools; `compact_tools`: listed
 * only the search meta-tools (small-context mode).
 */
export interface KeyRestriction {
  skills?: string[];
  servers?: string[];
  compact_tools?: boolean;
}

export interface ApiKeyChanges extends Partial<KeyPermissions> {
  name?: string;
  restriction?: KeyRestriction | null;
  is_disabled?: boolean;
}

export interface CreatedApiToken extends ApiToken {
  token: string;
}

export interface Skill {
  id: string;
  name: string;
  description: string;
  origin: 'own' | 'shared';
  enabled: boolean;
  hidden: boolean;
  shared: boolean;
  current_version: number;
  version_label: string | null;
  warnings: string[];
  file_count: number;
  size_bytes: number;
  license: string | null;
  compatibility: string | null;
  metadata: Record<string, unknown>;
  run_commands_enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface SkillVersion {
  number: number;
  label: string | null;
  created_at: string;
  file_count: number;
  size_bytes: number;
  is_current: boolean;
  warnings: string[];
}

export interface UploadResult {
  skill: Skill;
  version: SkillVersion;
  warnings: string[];
}

export interface SkillFile {
  path: string;
  size: number;
  executable: boolean;
  sha256: string;
  content_type: string;
}

export interface AuditEntry {
  id: number;
  actor_id: string | null;
  /** Null for an unknown actor or a deleted account. */
  actor: { id: string; username: string; email: string } | null;
  action: string;
  /** `user:<id>`, `skill:<id>`, `token:<id>`, `settings`… */
  target: string | null;
  /** The target's username or name; null when it is gone. */
  target_label: string | null;
  result: string;
  ip: string | null;
  created_at: string;
  details: unknown;
}

export type AuditQuery = {
  actor_id?: string;
  /** An exact action, or a dotted prefix (`auth` matches `auth.login`). */
  action?: string;
  result?: 'success' | 'failure' | 'started';
  target?: string;
  since?: string;
  until?: string;
};

export interface ServerSettings {
  commands_enabled: boolean;
  /** Who may add stdio upstream MCP servers. */
  upstream_stdio: 'admins' | 'users' | 'off';
  upstream_allow_private_networks: boolean;
  upstream_allow_http: boolean;
  oauth_dynamic_registration: boolean;
  oauth_allowed_clients: string[];
  user_model_providers: boolean;
}

export interface ModelProvider {
  id: string;
  name: string;
  kind: 'openai-compatible' | 'anthropic';
  base_url: string;
  api_key: string | null;
  models: string[];
  scope: 'global' | 'own' | 'environment';
}

export interface Assistant {
  id: string;
  name: string;
  description: string;
  provider_id: string | null;
  model: string;
  system_prompt: string;
  temperature: number | null;
  max_tokens: number | null;
  max_steps: number;
  skills: 'all' | string[];
  run_scripts: boolean;
  upstream_tools: string[];
  shared: boolean;
  owned: boolean;
}

export type AssistantInput = Omit<Assistant, 'id' | 'owned'>;

export interface ChatSession {
  id: string;
  assistant_id: string;
  title: string;
  message_count: number;
  busy: boolean;
  updated_at: string;
  expires_at: string;
}

export interface AssistantUsage {
  credential: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface FieldError {
  path: string;
  message: string;
}

/** A pending OAuth authorization, as the consent page shows it. */
export interface OAuthAuthorizationRequest {
  client: {
    id: string;
    name: string | null;
    uri: string | null;
    logo_uri: string | null;
    registration: 'metadata_document' | 'dynamic';
  };
  redirect_uri: string;
  resource: string;
  scopes: string[];
}

/** An MCP client the user authorized through OAuth. */
export interface OAuthConnection {
  id: string;
  client_id: string;
  client_name: string | null;
  resource: string;
  scopes: string[];
  restriction: { skills: string[] } | null;
  created_at: string;
  last_used_at: string | null;
}

/** One result of `/search`: a skill (use it by name) or a tool (call it by name). */
export interface SearchHit {
  kind: 'skill' | 'tool';
  name: string;
  description: string;
  /** Found by its words, by meaning (embeddings), or both. */
  match: 'text' | 'semantic' | 'both';
  score: number;
}

export interface SearchResults {
  /** `full_text` when no embeddings provider is configured (or it failed for this query). */
  mode: 'hybrid' | 'full_text';
  results: SearchHit[];
}

export interface SearchStatus {
  mode: 'hybrid' | 'full_text';
  embedding_model: string | null;
  vector_path: 'pgvector' | 'portable' | 'none';
  documents: number;
  embedded: number;
  jobs: Array<{
    id: number;
    kind: string;
    status: 'pending' | 'running' | 'done' | 'failed';
    attempts: number;
    done: number;
    total: number | null;
    last_error: string | null;
    run_after: string;
    updated_at: string;
  }>;
}

/** An upstream MCP server (`/api/v1/mcp-servers`); secret values come back masked. */
export interface McpServer {
  id: string;
  name: string;
  description: string;
  transport: 'stdio' | 'sse' | 'streamable-http';
  command: string | null;
  args: string[];
  cwd: string | null;
  read_paths: string[];
  network: 'none' | 'host' | null;
  env: Record<string, string>;
  url: string | null;
  headers: Record<string, string>;
  enabled: boolean;
  shared: boolean;
  is_owner: boolean;
  hidden: boolean;
  call_timeout_ms: number;
  tool_allow: string[] | null;
  tool_deny: string[];
  status: 'starting' | 'running' | 'stopped' | 'error';
  last_error: string | null;
  status_changed_at: string | null;
  restart_count: number;
  tools: Array<{ name: string; exposed_name: string; description: string; allowed: boolean }>;
}
