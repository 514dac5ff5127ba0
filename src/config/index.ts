import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { describeFsError } from '../shared/fs-errors.js';

/**
 * Configuration comes from environment variables only (a `.env` file is loaded by the CLI in development).
 * Every variable is documented with its default in README.md; keep the two in step.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

const envSchema = z.object({
  PORT: int(0, 65535).default(8123),
  /** `serve` processes sharing the port (PostgreSQL and REDIS_URL when more than one; see server/workers.ts). */
  WORKERS: int(1, 64).default(1),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./.data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_PREFIX: z.string().min(1).max(64).default('skillport:'),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  PUBLIC_URL: z.string().url().optional(),
  CORS_ORIGINS: csv.default([]),
  ALLOWED_HOSTS: csv.default([]),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SIGNUP: z.enum(['open', 'closed']).default('open'),
  ACCESS_TOKEN_TTL_SECONDS: int(60, 86_400).default(900),
  REFRESH_TOKEN_TTL_DAYS: int(1, 365).default(30),
  AUTH_RATE_LIMIT_PER_IP: int(1, 100_000).default(20),
  AUTH_RATE_LIMIT_PER_ACCOUNT: int(1, 100_000).default(10),
  AUTH_RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(60),
  MAX_JSON_BODY_BYTES: int(1024, 10 * 1024 * 1024).default(1024 * 1024),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  TRUST_PROXY: bool.default(false),
  SKILL_MAX_ARCHIVE_MB: int(1, 1024).default(50),
  SKILL_MAX_UNPACKED_MB: int(1, 4096).default(100),
  SKILL_MAX_FILES: int(1, 100_000).default(1000),
  SKILL_MAX_FILE_MB: int(1, 1024).default(20),
  SKILL_MAX_DEPTH: int(1, 64).default(12),
  SKILL_MAX_PATH_LENGTH: int(16, 4096).default(512),
  SKILL_UPLOAD_CONCURRENCY: int(1, 64).default(2),
  SKILL_UPLOAD_QUEUE: int(0, 10_000).default(32),
  COMMAND_SECURITY_LEVEL: z.enum(['disabled', 'whitelist', 'strict']).optional(),
  COMMAND_ALLOW_DISABLED: bool.default(false),
  COMMAND_ALLOWED_PROGRAMS: csv.default(['python', 'python3', 'node', 'bash', 'sh']),
  COMMAND_TIMEOUT: int(1, 3600).default(60),
  COMMAND_MAX_MEMORY_MB: int(16, 65_536).default(512),
  COMMAND_MAX_CPU_PERCENT: int(1, 100).default(50),
  COMMAND_MAX_OUTPUT_KB: int(1, 10_240).default(64),
  COMMAND_MAX_PROCESSES: int(1, 4096).default(64),
  COMMAND_MAX_FILE_MB: int(1, 4096).default(16),
  COMMAND_CONCURRENCY_PER_USER: int(1, 64).default(2),
  COMMAND_CONCURRENCY_GLOBAL: int(1, 1024).default(8),
  COMMANDS_ENABLED: bool.default(true),
  UPSTREAM_HEALTH_INTERVAL_SECONDS: int(1, 3600).default(30),
  UPSTREAM_STDIO_UNSANDBOXED: bool.default(false),
  UPSTREAM_LEASE_SECONDS: int(2, 600).default(30),
  INTERNAL_URL: z.string().url().optional(),
  UPSTREAM_STATE_DIR: z.string().min(1).optional(),
  UPSTREAM_SANDBOX_UID: int(1, 4_294_967_294).default(65534),
  BLOB_STORE: z.enum(['db', 's3']).default('db'),
  S3_ENDPOINT: z
    .string()
    .regex(/^https?:\/\/[^/]+\/?$/, 'must be http(s)://host[:port] without a path')
    .optional(),
  S3_BUCKET: z.string().min(3).max(63).optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** Embeddings for hybrid search (an OpenAI-compatible /v1/embeddings); none → full-text search only. */
  EMBEDDINGS_BASE_URL: z.string().url().optional(),
  EMBEDDINGS_MODEL: z.string().min(1).max(200).optional(),
  EMBEDDINGS_API_KEY: z.string().min(1).optional(),
  S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or end with / (letters, digits, . _ -)')
    .default(''),
  // Assistants (issue 13): the environment's default model provider and the chat limits.
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().url().default('https://api.openai.com/v1'),
  ASSISTANT_TURN_TIMEOUT: int(1, 3600).default(300),
  CHAT_SESSION_TTL_HOURS: int(1, 24 * 365).default(24 * 7),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Omit<Env, 'SECRET_KEY' | 'DATA_DIR'> {
  DATA_DIR: string;
  SECRET_KEY: string;
  /** Where the embedded database lives when DATABASE_URL is not set. */
  embeddedDbDir: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment and fills in derived values. Throws ConfigError with every problem listed. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parseEnv(env);
  const dataDir = path.resolve(e.DATA_DIR);
  if (e.DATABASE_URL && !e.SECRET_KEY) {
    throw new ConfigError(
      'Invalid configuration:\n  SECRET_KEY: required when DATABASE_URL is set (≥ 32 characters)',
    );
  }
  // The embedded set-up keeps its database and generated key in DATA_DIR: check it now, with a clear message.
  if (!e.DATABASE_URL || !e.SECRET_KEY) ensureDataDir(dataDir);
  const secretKey = e.SECRET_KEY ?? loadOrCreateSecretKey(dataDir);
  return { ...e, DATA_DIR: dataDir, SECRET_KEY: secretKey, embeddedDbDir: path.join(dataDir, 'db') };
}

/**
 * Names the deployment guides use for our variables. Either name works; both set to different values is an error,
 * since one of them would be silently ignored.
 */
const ALIASES: Record<string, keyof Env> = {
  MAX_DB_CONNECTIONS: 'DATABASE_POOL_SIZE',
  SKILL_STORAGE_PATH: 'DATA_DIR',
};

/** Validates the environment only (no secret key, no data dir): for commands that run without a server. */
export function parseEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  for (const [alias, name] of Object.entries(ALIASES)) {
    if (raw[alias] === undefined) continue;
    if (raw[name] !== undefined && raw[name] !== raw[alias]) {
      throw new ConfigError(
        `Invalid configuration:\n  ${alias}: another name for ${name}; set one of the two`,
      );
    }
    raw[name] = raw[alias];
  }
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** The object storage settings when BLOB_STORE=s3 (null for the database store); every S3_* listed if missing. */
export function s3Settings(env: Env): S3Env | null {
  if (env.BLOB_STORE !== 's3') return null;
  const required = ['S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const;
  const missing = required.filter((k) => !env[k]);
  if (missing.length) {
    throw new ConfigError(
      `Invalid configuration:\n${missing.map((k) => `  ${k}: required when BLOB_STORE=s3`).join('\n')}`,
    );
  }
  return {
    endpoint: env.S3_ENDPOINT!,
    bucket: env.S3_BUCKET!,
    accessKeyId: env.S3_ACCESS_KEY_ID!,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY!,
    region: env.S3_REGION,
    prefix: env.S3_PREFIX,
  };
}

export interface S3Env {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  prefix: string;
}

function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    accessSync(dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  DATA_DIR: ${describeFsError(err, dataDir)}`);
  }
}

/** The embedded set-up keeps a generated key in the data dir so that sessions survive restarts. */
function loadOrCreateSecretKey(dataDir: string): string {
  const file = path.join(dataDir, 'secret_key');
  if (existsSync(file)) {
    let key: string;
    try {
      key = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`Invalid configuration:\n  DATA_DIR: ${describeFsError(err, file)}`);
    }
    if (key.length < 32)
      throw new ConfigError(`Invalid configuration:\n  ${file}: key shorter than 32 characters`);
    return key;
  }
  const key = randomBytes(48).toString('base64url');
  writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}
