import path from 'node:path';
import { s3Settings, type Config } from '../config/index.js';
import { openDatabase, type DatabaseHandle } from '../db/index.js';
import { createLogger, loggableError, type Logger, Metrics } from '../observability/index.js';
import { AccessTokens, ApiTokens, Authenticator, AccountsService } from '../accounts/index.js';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from '../shared/rate-limit.js';
import { bridge, RedisEventBus } from '../shared/event-bus.js';
import {
  DatabaseBlobStore,
  S3BlobStore,
  SkillsService,
  Uploads,
  type ArchiveLimits,
  type BlobStore,
} from '../skills/index.js';
import { SettingsService } from '../admin/index.js';
import type pino from 'pino';
import {
  commandTools,
  databaseSkillViews,
  searchMetaTools,
  skillLibraryTools,
  ToolRegistry,
  type SkillViews,
} from '../tools/index.js';
import { completeAudit, recordAudit } from '../audit/index.js';
import type { Sandbox } from '../sandbox/index.js';
import { createCommandSandbox } from './command-sandbox.js';
import { redactUrl } from '../shared/redact.js';
import { VERSION } from '../shared/version.js';
import { SecretBox } from '../shared/secrets.js';
import { OAuthConnections, OAuthServer } from '../oauth/index.js';
import type { SseRelay } from '../mcp/index.js';
import { ProvidersService } from '../providers/index.js';
import { AssistantsService, ChatSessions } from '../assistants/index.js';
import { embeddingsSettings, openSearch, skillsSource, type SearchRoom } from '../search/index.js';
import { embedderFrom, searchSkills, upstreamToolsSource } from './search.js';
import type { SecretHolder } from '../shared/secret-rotation.js';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_TIMINGS,
  InternalTokens,
  Leases,
  UpstreamsService,
  UpstreamSupervisor,
  upstreamTools,
} from '../upstreams/index.js';

/**
 * The composition root's output: every long-lived service, built once per server instance and handed to the
 * rooms that need it. Nothing else constructs services.
 */
export interface AppContext {
  version: string;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: DatabaseHandle;
  apiTokens: ApiTokens;
  accounts: AccountsService;
  authenticator: Authenticator;
  skills: SkillsService;
  /** Where file contents live: the database, or an S3-compatible bucket (BLOB_STORE). */
  blobs: BlobStore;
  archiveLimits: ArchiveLimits;
  /** The skill upload path (temp dirs under DATA_DIR/uploads, swept of dead processes' leftovers at start). */
  uploads: Uploads;
  settings: SettingsService;
  /** The run_shell_command sandbox level in force, or 'off' when COMMANDS_ENABLED=false. */
  commandLevel: Sandbox['level'] | 'off';
  /** Every caller's view of the skill library (the skill tools and the Skills-over-MCP resources). */
  skillViews: SkillViews;
  /** Every tool, per caller: the skill library's tools and, when enabled, run_shell_command. */
  tools: ToolRegistry;
  /** Seals the secrets kept at rest (upstream env/header values, provider keys, OAuth records). */
  secrets: SecretBox;
  /** Model providers (admins', users' own, the environment's OPENAI_API_KEY). */
  providers: ProvidersService;
  /** Assistants, callable through the OpenAI-compatible edge. */
  assistants: AssistantsService;
  /** Server-kept conversations with assistants (CHAT_SESSION_TTL_HOURS). */
  sessions: ChatSessions;
  /** Hybrid search over skills and tools, its indexer and job queue. */
  search: SearchRoom;
  /** Upstream MCP servers (the connector): the resource, and this instance's supervisor of their connections. */
  upstreams: UpstreamsService;
  upstreamSupervisor: UpstreamSupervisor;
  /** Every room's sealed secrets, for `skillport secrets rotate` (rooms that keep secrets add theirs here). */
  secretHolders: SecretHolder[];
  /** Degraded-mode notices shown by /ready and logged at start. */
  warnings: string[];
  /** OAuth 2.1 for /mcp: the authorization server and the users' connected applications. */
  oauth: OAuthServer;
  oauthConnections: OAuthConnections;
  /** Run in reverse order by `close()`: things built on the context that hold resources. */
  closers: Array<() => Promise<void>>;
  /** Set in a worker of `serve --workers` (see `ContextOptions.sseRelay`). */
  sseRelay?: SseRelay;
  close(): Promise<void>;
}

export { VERSION };

export interface ContextOptions {
  /** Log destination (tests capture log lines to check that no secret is written). */
  logDestination?: pino.DestinationStream;
  /** Use an already opened database instead of opening one from the config. */
  database?: DatabaseHandle;
  /** Outbound fetch for OAuth Client ID Metadata Documents (tests serve a client's document locally). */
  oauthFetch?: typeof fetch;
  /** A worker of `serve --workers`: how legacy SSE messages reach the sessions of the other workers. */
  sseRelay?: SseRelay;
  /** Fields every log line of this instance carries (a worker's index). */
  logBindings?: Record<string, unknown>;
}

export async function createContext(config: Config, opts: ContextOptions = {}): Promise<AppContext> {
  const root = createLogger(config.LOG_LEVEL, opts.logDestination);
  const logger = opts.logBindings ? root.child(opts.logBindings) : root;
  const closers: Array<() => Promise<void>> = [];
  // With Redis, every instance shares rate limits and hears the others' events (see ARCHITECTURE.md).
  // Connected first: it fails fast, the database may take seconds to open.
  const bus = config.REDIS_URL ? await connectRedis(config.REDIS_URL, config.REDIS_PREFIX, logger) : null;
  if (bus) closers.push(() => bus.close());
  let db: DatabaseHandle;
  try {
    db =
      opts.database ??
      (await openDatabase({
        url: config.DATABASE_URL,
        embeddedDir: config.embeddedDbDir,
        poolSize: config.DATABASE_POOL_SIZE,
        // Only search by embeddings needs pgvector (see openSearch below).
        vectors: embeddingsSettings(config) !== null,
        onConnectionError: (err) =>
          logger.error({ err: err.message }, 'database unavailable; answering 503 until it is back'),
        onRecovered: () => logger.info('database available again'),
      }));
  } catch (err) {
    await bus?.close();
    throw err;
  }
  try {
    return await buildServices(config, opts, logger, db, bus, closers);
  } catch (err) {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
    if (!opts.database) await db.close();
    throw err;
  }
}

async function buildServices(
  config: Config,
  opts: ContextOptions,
  logger: Logger,
  db: DatabaseHandle,
  bus: RedisEventBus | null,
  closers: Array<() => Promise<void>>,
): Promise<AppContext> {
  const metrics = new Metrics({ dataDir: config.DATA_DIR, databaseUp: () => db.ping() });
  const { rateLimiter, apiTokens, accounts, oauthConnections, authenticator } = buildAccounts(
    config,
    db,
    bus,
  );
  const { blobs, skills, archiveLimits, uploads } = await buildSkills(config, db, logger, accounts, closers);
  const warnings: string[] = [];
  const settings = new SettingsService(db.db);
  if (bus) await bridgeEvents(bus, apiTokens, skills, settings);
  const secrets = new SecretBox(config.SECRET_KEY);
  const oauth = oauthServer(config, opts, logger, db, secrets, settings, rateLimiter, oauthConnections);
  closers.push(async () => oauth.close());
  const skillViews = databaseSkillViews(skills);
  closers.push(async () => skillViews.close());
  const tools = new ToolRegistry({ metrics });
  closers.push(() => tools.close());
  const { upstreams, upstreamSupervisor } = await buildUpstreams(
    config,
    logger,
    metrics,
    db,
    settings,
    secrets,
    bus,
  );
  closers.push(() => upstreamSupervisor.close());
  const embedder = embedderFrom(config, warnings);
  const search = await openSearch({
    db,
    sources: [skillsSource(skills), upstreamToolsSource(upstreams)],
    embedder,
    logger,
  });
  closers.push(() => search.close());
  tools.register(skillLibraryTools(skillViews, searchSkills(search)));
  const commandLevel = config.COMMANDS_ENABLED
    ? await registerCommandTools(config, logger, db, settings, skillViews, tools, warnings, closers)
    : 'off';
  const { providers, assistants, sessions } = buildAssistants(
    config,
    logger,
    db,
    secrets,
    settings,
    apiTokens,
    closers,
  );
  tools.register(upstreamTools(upstreams, upstreamSupervisor));
  // Last, so that the other tools keep their order; the only tools a compact-mode credential is listed.
  tools.register(searchMetaTools(search, tools), { compact: true });
  return {
    version: VERSION,
    config,
    logger,
    metrics,
    db,
    apiTokens,
    accounts,
    authenticator,
    skills,
    blobs,
    archiveLimits,
    uploads,
    settings,
    commandLevel,
    skillViews,
    tools,
    oauth,
    oauthConnections,
    secrets,
    providers,
    assistants,
    sessions,
    search,
    upstreams,
    upstreamSupervisor,
    secretHolders: [upstreams.secretHolder, providers.secretHolder],
    warnings,
    closers,
    ...(opts.sseRelay ? { sseRelay: opts.sseRelay } : {}),
    async close() {
      for (const closer of closers.reverse()) await closer().catch(() => undefined);
      // A database handed in by the caller stays the caller's to close.
      if (!opts.database) await db.close();
    },
  };
}

/** Accounts and sign-in: tokens, the rate limiter (shared through Redis when there is one), the authenticator. */
function buildAccounts(config: Config, db: DatabaseHandle, bus: RedisEventBus | null) {
  const rateLimiter: RateLimiter = bus
    ? new RedisRateLimiter(bus.pub, config.REDIS_PREFIX)
    : new MemoryRateLimiter();
  const accessTokens = new AccessTokens(config.SECRET_KEY, config.ACCESS_TOKEN_TTL_SECONDS);
  const apiTokens = new ApiTokens(db.db);
  const accounts = new AccountsService(db.db, accessTokens, apiTokens, rateLimiter, {
    signup: config.SIGNUP,
    refreshTokenTtlDays: config.REFRESH_TOKEN_TTL_DAYS,
    rateLimit: {
      perIp: config.AUTH_RATE_LIMIT_PER_IP,
      perAccount: config.AUTH_RATE_LIMIT_PER_ACCOUNT,
      windowSeconds: config.AUTH_RATE_LIMIT_WINDOW_SECONDS,
    },
  });
  const oauthConnections = new OAuthConnections(db.db, apiTokens.events);
  const authenticator = new Authenticator(accessTokens, apiTokens, accounts, oauthConnections);
  return { rateLimiter, apiTokens, accounts, oauthConnections, authenticator };
}

/** The skill library: where file contents live, the skills themselves, and the upload path. */
async function buildSkills(
  config: Config,
  db: DatabaseHandle,
  logger: Logger,
  accounts: AccountsService,
  closers: AppContext['closers'],
) {
  const blobs = await blobStoreFrom(config, db, logger, closers);
  const skills = new SkillsService(db.db, blobs);
  accounts.onAccountDeleted(skills.afterAccountDeleted);
  const archiveLimits = archiveLimitsFrom(config);
  const uploads = await Uploads.open({
    dir: path.join(config.DATA_DIR, 'uploads'),
    limits: archiveLimits,
    concurrency: config.SKILL_UPLOAD_CONCURRENCY,
    queue: config.SKILL_UPLOAD_QUEUE,
  });
  return { blobs, skills, archiveLimits, uploads };
}

/** Other instances hear about revoked tokens, disabled users and skill changes at once. */
async function bridgeEvents(
  bus: RedisEventBus,
  apiTokens: ApiTokens,
  skills: SkillsService,
  settings: SettingsService,
): Promise<void> {
  const credentials = await bridge(apiTokens.events, 'credentials-changed', bus, (p) =>
    apiTokens.forgetUser(String(p.userId)),
  );
  // A request that ends a session or revokes a key answers once Redis has the event (see Authenticator).
  apiTokens.propagateWith(() => credentials.settled());
  await bridge(skills.events, 'change', bus);
  await bridge(settings.events, 'changed', bus, () => settings.reset());
}

/** OAuth 2.1 for /mcp: the authorization server. */
function oauthServer(
  config: Config,
  opts: ContextOptions,
  logger: Logger,
  db: DatabaseHandle,
  box: SecretBox,
  settings: SettingsService,
  rateLimiter: RateLimiter,
  oauthConnections: OAuthConnections,
): OAuthServer {
  return new OAuthServer({
    db: db.db,
    box,
    secretKey: config.SECRET_KEY,
    trustProxy: config.TRUST_PROXY,
    accountActive: (userId) => oauthConnections.userActive(userId),
    connections: oauthConnections,
    settings,
    rateLimiter,
    logger,
    ...(opts.oauthFetch ? { fetch: opts.oauthFetch } : {}),
  });
}

/** COMMANDS_ENABLED: the sandbox and run_shell_command; answers the sandbox level in force. */
async function registerCommandTools(
  config: Config,
  logger: Logger,
  db: DatabaseHandle,
  settings: SettingsService,
  skillViews: SkillViews,
  tools: ToolRegistry,
  warnings: string[],
  closers: AppContext['closers'],
): Promise<Sandbox['level']> {
  const sandbox = await createCommandSandbox(config, logger, warnings);
  closers.push(() => sandbox.close());
  tools.register(
    commandTools(skillViews, {
      sandbox,
      maxTimeoutSeconds: config.COMMAND_TIMEOUT,
      enabled: async () => (await settings.get()).commands_enabled,
      audit: {
        start: (entry) => recordAudit(db.db, entry),
        finish: (id, outcome) => completeAudit(db.db, id, outcome),
      },
    }),
  );
  return sandbox.level;
}

/** Model providers, assistants and their chat sessions. */
function buildAssistants(
  config: Config,
  logger: Logger,
  db: DatabaseHandle,
  secrets: SecretBox,
  settings: SettingsService,
  apiTokens: ApiTokens,
  closers: AppContext['closers'],
) {
  const providers = new ProvidersService(db.db, secrets, settings, {
    apiKey: config.OPENAI_API_KEY,
    baseUrl: config.OPENAI_BASE_URL,
  });
  const assistants = new AssistantsService(db.db, providers, (err) =>
    logger.warn({ err: loggableError(err) }, 'writing assistant usage failed'),
  );
  closers.push(() => assistants.flushUsage());
  const sessions = new ChatSessions(
    db.db,
    config.CHAT_SESSION_TTL_HOURS * 3600 * 1000,
    config.ASSISTANT_TURN_TIMEOUT * 1000,
  );
  apiTokens.checkAssistantIds = (actor, ids) => assistants.assertBindable(actor, ids);
  // The AI SDK writes its warnings with console.*, which would corrupt a stdio MCP stream: route them to pino.
  globalThis.AI_SDK_LOG_WARNINGS = (options) => logger.warn({ ai_sdk: options }, 'model provider warning');
  return { providers, assistants, sessions };
}

/**
 * The connector: server definitions, and the supervisor that reconciles this instance's connections after every
 * change, local or (through the bus) from another instance.
 */
async function buildUpstreams(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  db: DatabaseHandle,
  settings: SettingsService,
  secretBox: SecretBox,
  bus: RedisEventBus | null,
) {
  const upstreams = new UpstreamsService(db.db, secretBox, settings);
  const upstreamSupervisor = new UpstreamSupervisor({
    db: db.db,
    service: upstreams,
    settings,
    logger,
    metrics,
    version: VERSION,
    stateRoot: config.UPSTREAM_STATE_DIR ?? `${config.DATA_DIR}-upstreams`,
    timings: { ...DEFAULT_TIMINGS, healthIntervalMs: config.UPSTREAM_HEALTH_INTERVAL_SECONDS * 1000 },
    allowUnsandboxed: config.UPSTREAM_STDIO_UNSANDBOXED,
    sandboxUid: config.UPSTREAM_SANDBOX_UID,
    leases: new Leases(db.db, randomUUID(), config.UPSTREAM_LEASE_SECONDS * 1000),
    tokens: new InternalTokens(config.SECRET_KEY),
    leaseTickMs: (config.UPSTREAM_LEASE_SECONDS * 1000) / 3,
  });
  upstreams.events.on('change', (change) => {
    if (!change.catalog) void upstreamSupervisor.reconcile(change.serverId);
  });
  if (bus) await bridge(upstreams.events, 'change', bus);
  return { upstreams, upstreamSupervisor };
}

const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/** With BLOB_STORE=s3, objects no row needs (see blob-store-s3.ts) are swept hourly, an hour after their upload. */
async function blobStoreFrom(
  config: Config,
  db: DatabaseHandle,
  logger: Logger,
  closers: AppContext['closers'],
): Promise<BlobStore> {
  const settings = s3Settings(config);
  if (!settings) return new DatabaseBlobStore();
  const failed = (err: unknown) =>
    logger.warn(
      { error: err instanceof Error ? err.message : String(err) },
      'object storage clean-up failed',
    );
  const store = await S3BlobStore.open(db.db, settings, failed);
  await store.check();
  const timer = setInterval(() => void store.sweep(SWEEP_INTERVAL_MS).catch(failed), SWEEP_INTERVAL_MS);
  timer.unref();
  closers.push(async () => {
    clearInterval(timer);
    await store.settled();
  });
  return store;
}

/**
 * An unreachable REDIS_URL stops the start with one line naming it: running on without the shared bus would
 * silently leave revocations and rate limits per instance. After the start ioredis reconnects on its own;
 * outages are logged (at most once a minute), without stacks.
 */
async function connectRedis(url: string, prefix: string, logger: Logger): Promise<RedisEventBus> {
  let lastLogged = 0;
  const onError = (err: Error) => {
    if (Date.now() - lastLogged < 60_000) return;
    lastLogged = Date.now();
    logger.warn({ redis: redactUrl(url), err: err.message }, 'Redis (REDIS_URL) unreachable; reconnecting');
  };
  try {
    return await RedisEventBus.connect(url, prefix, onError);
  } catch (err) {
    throw new Error(`Cannot connect to Redis at REDIS_URL (${redactUrl(url)}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const MiB = 1024 * 1024;
function archiveLimitsFrom(config: Config): ArchiveLimits {
  return {
    maxArchiveBytes: config.SKILL_MAX_ARCHIVE_MB * MiB,
    maxUnpackedBytes: config.SKILL_MAX_UNPACKED_MB * MiB,
    maxFiles: config.SKILL_MAX_FILES,
    maxFileBytes: config.SKILL_MAX_FILE_MB * MiB,
    maxDepth: config.SKILL_MAX_DEPTH,
    maxPathLength: config.SKILL_MAX_PATH_LENGTH,
  };
}
