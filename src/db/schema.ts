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
    /** Null = no restriction; `{ skills: [...] }` = only these skills' tools. */
    restriction: jsonb('restriction').$type<{ skills?: string[]; servers?: string[] }>(),
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
  mcpServers,
  hiddenMcpServers,
  mcpServerRuntime,
};
