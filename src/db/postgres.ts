import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import {
  MIGRATION_LOCK_KEY,
  MIGRATIONS_DIR,
  ping,
  type Database,
  type DatabaseHandle,
  type OpenOptions,
} from './handle.js';
import { schema } from './schema.js';
import { redactUrl } from '../shared/redact.js';
import { DatabaseUnavailableError, isConnectionLoss } from './errors.js';

/**
 * A PostgreSQL pool that survives the database going away and fails fast while it is away.
 *
 * - Every client has an 'error' listener for its whole life (pg-pool removes its own while a client is checked
 *   out, and a connection dropped between two queries of a transaction would otherwise crash the process).
 * - Timeouts: connecting (and waiting for a free pooled connection), statements (server side), sessions left
 *   idle in a transaction, and TCP keep-alive for silent network loss.
 * - A heartbeat on a connection of its own notices a database that stopped answering (frozen, partitioned),
 *   which no error reports. While the database is away the pool refuses at once (DatabaseUnavailableError →
 *   503) instead of letting requests queue, the connections in use are cut so their requests fail now, and a
 *   probe reconnects; service resumes by itself when it answers again.
 */
export interface ResilientPoolOptions {
  url: string;
  max: number;
  onConnectionError?: (err: Error) => void;
  onRecovered?: () => void;
}

const CONNECT_TIMEOUT_MS = 3_000;
const STATEMENT_TIMEOUT_MS = 30_000;
const IDLE_IN_TRANSACTION_MS = 60_000;
const HEARTBEAT_EVERY_MS = 1_000;
/** A `select 1` slower than this means the database is not serving. */
const HEARTBEAT_TIMEOUT_MS = 1_500;
const PROBE_EVERY_MS = 250;

export class ResilientPool {
  readonly pool: pg.Pool;
  private readonly clients = new Set<pg.Client>();
  private away: DatabaseUnavailableError | null = null;
  private heartbeat: pg.Client | null = null;
  private beating = false;
  private lastBeat = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: ResilientPoolOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
      keepAlive: true,
    });
    this.pool.on('connect', (client) => {
      this.clients.add(client);
      client.on('error', (err) => this.lost(err));
    });
    this.pool.on('remove', (client) => this.clients.delete(client));
    // An idle client losing its connection: the pool has already dropped it.
    this.pool.on('error', (err) => this.lost(err));
    const connect = this.pool.connect.bind(this.pool);
    // Refuse at once while the database is away (the pool's query() goes through connect() too).
    this.pool.connect = ((
      cb?: (err: Error | undefined, client?: pg.PoolClient, done?: () => void) => void,
    ) => {
      const away = this.closed ? new DatabaseUnavailableError(new Error('the pool is closed')) : this.away;
      if (!away) return cb ? connect(cb as never) : connect();
      if (!cb) return Promise.reject(away);
      process.nextTick(() => cb(away, undefined, () => undefined));
      return undefined;
    }) as typeof this.pool.connect;
    this.timer = setInterval(() => void this.beat(), PROBE_EVERY_MS);
    this.timer.unref();
  }

  /** The reason the database counts as away, or null when it is serving. */
  get unavailable(): DatabaseUnavailableError | null {
    return this.away;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.dropHeartbeat();
    await this.pool.end();
  }

  private lost(err: Error): void {
    if (isConnectionLoss(err)) this.markAway(err);
  }

  private markAway(cause: Error): void {
    if (this.away || this.closed) return;
    this.away = new DatabaseUnavailableError(cause);
    this.opts.onConnectionError?.(cause);
    // Requests waiting on a connection that will not answer fail now rather than at some timeout.
    for (const client of this.clients) destroy(client);
    this.dropHeartbeat();
  }

  /** A heartbeat every second while serving, a reconnection probe every tick while away; never two at once. */
  private async beat(): Promise<void> {
    if (this.beating || this.closed) return;
    if (!this.away && Date.now() - this.lastBeat < HEARTBEAT_EVERY_MS) return;
    this.beating = true;
    this.lastBeat = Date.now();
    try {
      if (!this.heartbeat) {
        const client = new pg.Client({ connectionString: this.opts.url, connectionTimeoutMillis: 1_000 });
        client.on('error', () => undefined); // its failures are seen by the query below
        this.heartbeat = client;
        await client.connect();
      }
      await withTimeout(this.heartbeat.query('select 1'), HEARTBEAT_TIMEOUT_MS);
      if (this.away) {
        this.away = null;
        this.opts.onRecovered?.();
      }
    } catch (err) {
      this.dropHeartbeat();
      this.markAway(err as Error);
    } finally {
      this.beating = false;
    }
  }

  private dropHeartbeat(): void {
    if (this.heartbeat) destroy(this.heartbeat);
    this.heartbeat = null;
  }
}

/**
 * Cuts a connection now: its running query fails with "Connection terminated" and pg-pool discards it. This is
 * what pg-pool itself does on a connection timeout; `end()` would wait for a server that may never answer.
 */
function destroy(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The PostgreSQL database at `url`: a resilient pool, migrations under an advisory lock. */
export function openPostgres(url: string, poolSize: number, opts: OpenOptions): DatabaseHandle {
  const resilient = new ResilientPool({
    url,
    max: poolSize,
    onConnectionError: opts.onConnectionError,
    onRecovered: opts.onRecovered,
  });
  const db = drizzlePg(resilient.pool, { schema }) as unknown as Database;
  let closing: Promise<void> | null = null;
  return {
    db,
    kind: 'postgres',
    ping: () => (resilient.unavailable ? Promise.resolve(false) : ping(db)),
    migrate: () => migratePostgres(url),
    // Idempotent: a second close (an owner and a clean-up path both closing) waits for the first.
    close: () => (closing ??= resilient.close()),
  };
}

/** Migrations run on a dedicated session holding an advisory lock, so instances starting together take turns. */
async function migratePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a failure mid-migration surfaces from the query that was running
  try {
    await client.connect();
  } catch (err) {
    // The first contact with DATABASE_URL: say which setting is wrong, without its password.
    throw new Error(
      `Cannot connect to PostgreSQL at DATABASE_URL (${redactUrl(url)}): ${(err as Error).message || String(err)}`,
      { cause: err },
    );
  }
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await migratePg(drizzlePg(client), { migrationsFolder: MIGRATIONS_DIR });
  } finally {
    await client.end(); // ending the session releases the lock
  }
}
