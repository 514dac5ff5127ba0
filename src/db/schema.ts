import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * The one schema for PGlite and PostgreSQL. Migrations in /migrations are generated from this file with
 * `npm run db:generate`; never edit a migration that has been committed, add a new one.
 */

const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)),
});
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
};

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Stored lower-cased: emails are case-insensitive. */
    email: text('email').notNull(),
    username: text('username').notNull(),
    passwordHash: text('password_hash').notNull(),
    isAdmin: boolean('is_admin').notNull().default(false),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('users_email_key').on(t.email),
    uniqueIndex('users_username_key').on(t.username),
    index('users_created_at_idx').on(t.createdAt, t.id),
  ],
);

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** All tokens issued from one login share a family; reuse of a rotated token revokes the family. */
    familyId: uuid('family_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('refresh_tokens_hash_key').on(t.tokenHash),
    index('refresh_tokens_user_idx').on(t.userId),
    index('refresh_tokens_family_idx').on(t.familyId),
  ],
);

export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull(),
    prefix: text('prefix').notNull(),
    /** May manage the owner's resources through the REST API (the old `api` scope). */
    canManage: boolean('can_manage').notNull().default(false),
    /** May call the owner's assistants through the OpenAI-compatible API. */
    canCallAssistant: boolean('can_call_assistant').notNull().default(false),
    /** May use MCP (`/mcp`, `/sse`; the old `mcp` scope). */
    canUseMcp: boolean('can_use_mcp').notNull().default(false),
    /** Carries its owner's admin powers (only while the owner is an admin; granted only by an admin). */
    canAdmin: boolean('can_admin').notNull().default(false),
    /**
     * The assistants this key may call; empty = all of the owner's assistants. Ids, not a join table with a
     * cascading foreign key: deleting an assistant must never turn a key bound to it into one that calls all.
     */
    assistantIds: uuid('assistant_ids')
      .array()
      .notNull()
      .default(sql`'{}'::uuid[]`),
    /**
     * Null = no restriction; `{ skills: [...] }` = only these skills' tools; `{ servers: [...] }` = only these
     * upstream servers' tools; `compact_tools: true` = listed only
     * the search meta-tools (see accounts/api-tokens.ts).
     */
    restriction: jsonb('restriction').$type<{
      skills?: string[];
      servers?: string[];
      compact_tools?: boolean;
    }>(),
    /** Set while the key is disabled (reversible, unlike `revoked_at`). */
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('api_tokens_hash_key').on(t.tokenHash),
    index('api_tokens_user_idx').on(t.userId, t.createdAt),
  ],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /** Kept (set to null) when the actor's account is deleted: the security record outlives the account. */
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'set null' }),
    action: text('action').notNull(),
    target: text('target'),
    result: text('result').notNull(),
    ip: text('ip'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    ...timestamps,
  },
  (t) => [
    index('audit_events_actor_idx').on(t.actorId, t.id),
    index('audit_events_created_idx').on(t.createdAt),
  ],
);

/**
 * Content-addressed file contents, shared by every version and user that has the same bytes. `data` holds the
 * first chunk (or, for rows written before chunking, everything); the rest is in `blob_chunks`.
 */
export const blobs = pgTable('blobs', {
  sha256: text('sha256').primaryKey(),
  size: bigint('size', { mode: 'number' }).notNull(),
  data: bytea('data').notNull(),
  ...timestamps,
});

/**
 * The chunks after the first of a large blob, in order (`seq` from 1). Each statement then moves a bounded
 * amount of data: on PGlite a statement runs on the event loop, and one 20 MiB value blocks it for a second.
 */
export const blobChunks = pgTable(
  'blob_chunks',
  {
    sha256: text('sha256')
      .notNull()
      .references(() => blobs.sha256, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sha256, t.seq] })],
);

export const skills = pgTable(
  'skills',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Published by an admin to every user (read-only for them). */
    shared: boolean('shared').notNull().default(false),
    runCommandsEnabled: boolean('run_commands_enabled').notNull().default(true),
    currentVersionId: uuid('current_version_id'),
    /** Full-text document over name, description and SKILL.md body of the current version. */
    search: tsvector('search'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('skills_owner_name_key').on(t.ownerId, t.name),
    index('skills_shared_idx')
      .on(t.name)
      .where(sql`${t.shared}`),
    index('skills_search_idx').using('gin', t.search),
  ],
);

export const skillVersions = pgTable(
  'skill_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    skillId: uuid('skill_id')
      .notNull()
      .references(() => skills.id, { onDelete: 'cascade' }),
    number: integer('number').notNull(),
    /** `metadata.version` from the frontmatter, shown as a label only. */
    label: text('label'),
    frontmatter: jsonb('frontmatter').$type<Record<string, unknown>>().notNull(),
    warnings: jsonb('warnings').$type<string[]>().notNull(),
    fileCount: integer('file_count').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    ...timestamps,
  },
  (t) => [uniqueIndex('skill_versions_skill_number_key').on(t.skillId, t.number)],
);

export const versionFiles = pgTable(
  'version_files',
  {
    versionId: uuid('version_id')
      .notNull()
      .references(() => skillVersions.id, { onDelete: 'cascade' }),
    path: text('path').notNull(),
    sha256: text('sha256')
      .notNull()
      .references(() => blobs.sha256),
    size: bigint('size', { mode: 'number' }).notNull(),
    executable: boolean('executable').notNull(),
    ...timestamps,
  },
  (t) => [primaryKey({ columns: [t.versionId, t.path] }), index('version_files_sha256_idx').on(t.sha256)],
);

/** Shared skills a user chose not to see. */
export const hiddenSkills = pgTable(
  'hidden_skills',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    skillId: uuid('skill_id')
      .notNull()
      .references(() => skills.id, { onDelete: 'cascade' }),
    ...timestamps,
  },
  (t) => [primaryKey({ columns: [t.userId, t.skillId] }), index('hidden_skills_skill_idx').on(t.skillId)],
);

/** Server-wide settings changed at run time by administrators (key → JSON value). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').$type<unknown>().notNull(),
  ...timestamps,
});

// ---- Assistants room (issue 13): model providers, assistants, their usage, conversation sessions ----

/**
 * A model provider: an OpenAI-compatible endpoint or Anthropic's API. `owner_id` null = configured by an admin
 * for everybody; otherwise a user's own (when admins allow it). `api_key` is sealed with `SecretBox` at
 * (`model_providers`, id, `api_key`); `skillport secrets rotate` re-seals it (`ProvidersService.secretHolder`).
 */
export const modelProviders = pgTable(
  'model_providers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id').references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    kind: text('kind').$type<'openai-compatible' | 'anthropic'>().notNull(),
    baseUrl: text('base_url').notNull(),
    apiKey: text('api_key'),
    /** Models offered to assistants; empty = whatever the provider lists. */
    models: text('models')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    ...timestamps,
  },
  (t) => [index('model_providers_owner_idx').on(t.ownerId, t.createdAt)],
);

/**
 * An assistant: a model, a system prompt and a tool selection, listed as a model on `/v1/models`. `slug` is the
 * model id, unique server-wide so a key that sees shared assistants never meets two with one id. A null
 * `provider_id` uses the environment's default provider (OPENAI_API_KEY).
 */
export const assistants = pgTable(
  'assistants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    slug: text('slug').notNull(),
    description: text('description').notNull().default(''),
    providerId: uuid('provider_id').references(() => modelProviders.id, { onDelete: 'restrict' }),
    model: text('model').notNull(),
    systemPrompt: text('system_prompt').notNull().default(''),
    temperature: real('temperature'),
    maxTokens: integer('max_tokens'),
    maxSteps: integer('max_steps').notNull().default(10),
    /** True: all of the owner's skills; false: only `skill_names`. */
    allSkills: boolean('all_skills').notNull().default(true),
    skillNames: text('skill_names')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    runScripts: boolean('run_scripts').notNull().default(false),
    /** Upstream MCP tools: `<server>` (all its tools) or `<server>__<tool>`. */
    upstreamTools: text('upstream_tools')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Shared by an admin with every user. */
    shared: boolean('shared').notNull().default(false),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('assistants_slug_key').on(t.slug),
    index('assistants_owner_idx').on(t.ownerId, t.createdAt),
    index('assistants_provider_idx').on(t.providerId),
  ],
);

/** Tokens used, per assistant and credential (`credential` = the API key id, or `session` for the console). */
export const assistantUsage = pgTable(
  'assistant_usage',
  {
    assistantId: uuid('assistant_id')
      .notNull()
      .references(() => assistants.id, { onDelete: 'cascade' }),
    credential: text('credential').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    requests: bigint('requests', { mode: 'number' }).notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    ...timestamps,
  },
  (t) => [
    primaryKey({ columns: [t.assistantId, t.credential] }),
    index('assistant_usage_user_idx').on(t.userId),
  ],
);

/**
 * A server-kept conversation. `messages` is the model-side history (AI SDK messages, server tool steps
 * included). `busy_until` marks a running turn: one per session, and a crashed instance's mark expires.
 */
export const chatSessions = pgTable(
  'chat_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    assistantId: uuid('assistant_id')
      .notNull()
      .references(() => assistants.id, { onDelete: 'cascade' }),
    title: text('title').notNull().default(''),
    messages: jsonb('messages')
      .$type<unknown[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    busyUntil: timestamp('busy_until', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    ...timestamps,
  },
  (t) => [
    index('chat_sessions_user_idx').on(t.userId, t.updatedAt),
    index('chat_sessions_expires_idx').on(t.expiresAt),
  ],
);

/**
 * The hidden server-side steps of a turn that ended on client tool calls (mixed mode), keyed by the first client
 * `tool_call_id`, so the next stateless request continues with the model's whole history.
 */
export const pendingToolTurns = pgTable(
  'pending_tool_turns',
  {
    toolCallId: text('tool_call_id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    assistantId: uuid('assistant_id')
      .notNull()
      .references(() => assistants.id, { onDelete: 'cascade' }),
    messages: jsonb('messages').$type<unknown[]>().notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('pending_tool_turns_expires_idx').on(t.expiresAt)],
);

// ---- search (issue 14) -------------------------------------------------------------------------------------

/**
 * One searchable thing: a skill's current version or an upstream tool, written by the search indexer from its
 * source. `embedding` is the Float32 (little-endian) vector of `embedding_model`, null
 * until embedded or when no embeddings provider is configured. Skill documents go with their skill (cascade);
 * who may see a skill is decided at query time by the skills' visibility rule, never stored here.
 */
export const searchDocuments = pgTable(
  'search_documents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** `skill` or `tool`. */
    kind: text('kind').notNull(),
    /** The source's own key for the document (a skill id; `<owner>/<tool name>` for a tool). */
    sourceKey: text('source_key').notNull(),
    skillId: uuid('skill_id').references(() => skills.id, { onDelete: 'cascade' }),
    /** For tools: the user whose tool list holds it (null: offered to everybody). */
    ownerId: uuid('owner_id').references(() => users.id, { onDelete: 'cascade' }),
    /** The ready-to-call name: the skill name, or the tool's exposed name. */
    name: text('name').notNull(),
    description: text('description').notNull(),
    /** What the source counts as this document's version; the indexer rewrites a document only when it changes. */
    contentHash: text('content_hash').notNull(),
    /**
     * Full text of a document whose source has no index of its own (tools). Skills are ranked from
     * `skills.search`, written in the upload's own transaction, so a new version is found at once.
     */
    tsv: tsvector('tsv'),
    /** The text that was (or will be) embedded, capped. */
    embedText: text('embed_text').notNull(),
    embedding: bytea('embedding'),
    embeddingModel: text('embedding_model'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('search_documents_source_key').on(t.kind, t.sourceKey),
    index('search_documents_tsv_idx').using('gin', t.tsv),
    index('search_documents_skill_idx').on(t.skillId),
    index('search_documents_owner_idx').on(t.ownerId, t.kind),
    index('search_documents_model_idx').on(t.embeddingModel),
  ],
);

/**
 * The durable job queue of the search indexer: claimed with `FOR UPDATE SKIP LOCKED` under a lease, so a job
 * runs on one instance at a time and one whose instance died is taken up again once its lease ran out. Failed
 * jobs come back after a growing delay until `max_attempts`. `dedupe_key` keeps one pending job per purpose.
 */
export const searchJobs = pgTable(
  'search_jobs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    kind: text('kind').notNull(),
    dedupeKey: text('dedupe_key'),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    /** `pending`, `running`, `done` or `failed`. */
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(8),
    runAfter: timestamp('run_after', { withTimezone: true }).notNull().defaultNow(),
    lockedBy: text('locked_by'),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    lastError: text('last_error'),
    /** Progress of a long job, for admins: items done of items known. */
    done: integer('done').notNull().default(0),
    total: integer('total'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('search_jobs_pending_dedupe_key')
      .on(t.dedupeKey)
      .where(sql`${t.status} = 'pending'`),
    index('search_jobs_claim_idx').on(t.status, t.runAfter),
  ],
);

// ── upstreams (issue 12, the MCP connector): upstream MCP servers, users' hidden shared servers, runtime state ──

/**
 * An upstream MCP server, owned by a user (`shared` = an admin offers it to everyone). `config` holds the
 * transport's non-secret settings; `secrets` the env/header values, each sealed with SecretBox (never plaintext).
 */
export const mcpServers = pgTable(
  'mcp_servers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** A slug `[a-z0-9-]{1,20}`: the prefix of its exposed tool names. */
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    transport: text('transport').$type<'stdio' | 'sse' | 'streamable-http'>().notNull(),
    config: jsonb('config').$type<Record<string, unknown>>().notNull(),
    /** `{env: {NAME: sealed}, headers: {Name: sealed}}`. */
    secrets: jsonb('secrets')
      .$type<{ env?: Record<string, string>; headers?: Record<string, string> }>()
      .notNull()
      .default({}),
    enabled: boolean('enabled').notNull().default(true),
    shared: boolean('shared').notNull().default(false),
    callTimeoutMs: integer('call_timeout_ms').notNull(),
    /** `{allow: string[] | null, deny: string[], descriptions: {tool: text}}`. */
    tools: jsonb('tools')
      .$type<{ allow: string[] | null; deny: string[]; descriptions: Record<string, string> }>()
      .notNull(),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('mcp_servers_owner_name_key').on(t.ownerId, t.name),
    index('mcp_servers_shared_idx')
      .on(t.name)
      .where(sql`${t.shared}`),
  ],
);

/** Shared upstream servers a user chose not to see. */
export const hiddenMcpServers = pgTable(
  'hidden_mcp_servers',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    serverId: uuid('server_id')
      .notNull()
      .references(() => mcpServers.id, { onDelete: 'cascade' }),
    ...timestamps,
  },
  (t) => [primaryKey({ columns: [t.userId, t.serverId] })],
);

/**
 * What the supervisor knows of a server: its status (written only by the lease owner, fenced by `generation`),
 * the tool catalog of its last connection (so every instance lists its tools), and the lease that names the
 * instance that runs it.
 */
export const mcpServerRuntime = pgTable('mcp_server_runtime', {
  serverId: uuid('server_id')
    .primaryKey()
    .references(() => mcpServers.id, { onDelete: 'cascade' }),
  status: text('status').$type<'starting' | 'running' | 'stopped' | 'error'>().notNull().default('stopped'),
  lastError: text('last_error'),
  changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
  restartCount: integer('restart_count').notNull().default(0),
  protocolEra: text('protocol_era'),
  catalog: jsonb('catalog').$type<unknown[]>().notNull().default([]),
  ownerInstance: text('owner_instance'),
  ownerUrl: text('owner_url'),
  leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
  generation: bigint('generation', { mode: 'number' }).notNull().default(0),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const schema = {
  users,
  refreshTokens,
  apiTokens,
  auditEvents,
  blobs,
  blobChunks,
  skills,
  skillVersions,
  versionFiles,
  hiddenSkills,
  settings,
  modelProviders,
  assistants,
  assistantUsage,
  chatSessions,
  pendingToolTurns,
  searchDocuments,
  searchJobs,
  mcpServers,
  hiddenMcpServers,
  mcpServerRuntime,
};

// ── oauth (issue 15): the OAuth 2.1 authorization server's storage and the user's connected applications ──
// (No relational queries use these, so they stay out of `schema` above and this block stays one piece.)

/**
 * Everything oidc-provider keeps (its adapter, `oauth/adapter.ts`): one row per model instance. `key` is the
 * SHA-256 of model and id, so bearer values (access and refresh tokens, codes, session ids) are never stored
 * as they are; `payload` holds the library's JSON with the secrets in it sealed (SecretBox).
 */
export const oauthRecords = pgTable(
  'oauth_records',
  {
    key: text('key').primaryKey(),
    model: text('model').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    grantId: text('grant_id'),
    uid: text('uid'),
    userCode: text('user_code'),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    consumedAt: timestamp('consumed_at', { withTimezone: true }),
  },
  (t) => [
    index('oauth_records_grant_idx').on(t.grantId),
    index('oauth_records_uid_idx').on(t.uid),
    index('oauth_records_expires_idx').on(t.expiresAt),
  ],
);

/**
 * A user's connected application: one OAuth grant (what the user approved on the consent page), listed on the
 * console's Tokens page and revocable. Its tokens live in `oauth_records` under the same grant id.
 */
export const oauthConnections = pgTable(
  'oauth_connections',
  {
    grantId: text('grant_id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id').notNull(),
    clientName: text('client_name'),
    /** The MCP resource (RFC 8707) the grant's tokens are bound to. */
    resource: text('resource').notNull(),
    scopes: text('scopes').array().notNull(),
    /** `{skills: [...]}` as on API keys, or null = every skill. */
    restriction: jsonb('restriction').$type<{ skills: string[] }>(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [index('oauth_connections_user_idx').on(t.userId, t.createdAt)],
);
