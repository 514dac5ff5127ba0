import cluster, { type Worker } from 'node:cluster';
import { ConfigError, type Config } from '../config/index.js';
import { createLogger, type Logger } from '../observability/index.js';
import type { SseRelay } from '../mcp/index.js';

/**
 * `skillport serve --workers N` (WORKERS): N processes of the ordinary server sharing one port through
 * `node:cluster` (the primary accepts connections and hands them to the workers in turn), under a primary that
 * serves nothing itself. What the workers must agree on goes where it goes for several instances:
 * the database (PostgreSQL), and Redis (REDIS_URL) for rate limits and the events that drop caches (revoked
 * credentials, ended sessions, skill and settings changes). The one thing Redis does not carry is a legacy SSE
 * session, which lives in the process that opened it: the primary relays `POST /messages` between workers.
 */

/** Messages between the primary and its workers (all carry `sp`, so nothing else on the channel is mistaken). */
type ToPrimary =
  | { sp: 'ready'; url: string }
  | { sp: 'sse-open' | 'sse-close'; session: string }
  | { sp: 'sse-forward'; id: number; session: string; userId: string; message: unknown }
  | { sp: 'sse-result'; id: number; status: number };
type ToWorker =
  | { sp: 'sse-deliver'; id: number; session: string; userId: string; message: unknown }
  | { sp: 'sse-result'; id: number; status: number };

const isOurs = (m: unknown): m is { sp: string } =>
  typeof m === 'object' && m !== null && typeof (m as { sp?: unknown }).sp === 'string';

/** How long a worker waits for a relayed message to be delivered before answering 503. */
const RELAY_TIMEOUT_MS = 10_000;
/** How long the primary gives its workers to stop after SIGTERM before killing them. */
const STOP_GRACE_MS = 15_000;

/** The index of this worker (0 for a server without workers): per-process resources (sandbox uids) are offset by it. */
export const workerIndex = (): number => Number(process.env.SKILLPORT_WORKER_INDEX ?? 0) || 0;

export const isWorkerProcess = (): boolean => cluster.isWorker;

/** Refuses a set-up in which workers would disagree, naming what to change. */
export function assertWorkersSupported(config: Config): void {
  if (config.WORKERS <= 1) return;
  const problems: string[] = [];
  if (!config.DATABASE_URL) {
    problems.push(
      'WORKERS / --workers > 1 needs PostgreSQL (DATABASE_URL): the embedded database belongs to one process; ' +
        'run one process with the embedded database, or move to PostgreSQL',
    );
  }
  if (!config.REDIS_URL) {
    problems.push(
      'WORKERS / --workers > 1 needs REDIS_URL: the workers share rate limits and revocations through Redis, ' +
        'as several instances do',
    );
  }
  if (problems.length) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
}

export interface Primary {
  /** Where the workers listen. */
  url: string;
  /** Stops every worker (SIGTERM, then SIGKILL after a grace period) and resolves when all have exited. */
  stop(): Promise<void>;
  /** Resolves when a worker failed to start or all workers have stopped unexpectedly: the server is down. */
  failed: Promise<Error>;
}

/**
 * Forks `config.WORKERS` workers running this same command and resolves once every one is listening. A worker
 * that dies after it was ready is replaced; one that dies before (bad port, database unreachable) stops them all.
 */
export async function startPrimary(
  config: Config,
  logger: Logger = createLogger(config.LOG_LEVEL),
): Promise<Primary> {
  assertWorkersSupported(config);
  const relay = new PrimaryRelay();
  let stopping = false;
  let fail!: (err: Error) => void;
  const failed = new Promise<Error>((resolve) => (fail = resolve));
  const readyOnce = new Map<Worker, boolean>();
  let url = '';
  let pendingReady!: { count: number; resolve: () => void; reject: (err: Error) => void };

  const fork = (index: number): Worker => {
    const worker = cluster.fork({ SKILLPORT_WORKER_INDEX: String(index) });
    readyOnce.set(worker, false);
    worker.on('message', (m: unknown) => {
      if (!isOurs(m)) return;
      if (m.sp === 'ready' && !readyOnce.get(worker)) {
        readyOnce.set(worker, true);
        url = (m as ToPrimary & { sp: 'ready' }).url;
        if (--pendingReady.count === 0) pendingReady.resolve();
      } else relay.fromWorker(worker, m as ToPrimary);
    });
    worker.on('exit', (code, signal) => {
      const wasReady = readyOnce.get(worker);
      readyOnce.delete(worker);
      relay.gone(worker);
      if (stopping) return;
      if (!wasReady) {
        const err = new Error(`worker ${index} exited during start-up (${signal ?? `code ${code}`})`);
        pendingReady.reject(err);
        fail(err);
        return;
      }
      logger.error({ worker: index, code, signal }, 'worker exited; starting a replacement');
      pendingReady.count++;
      fork(index);
    });
    return worker;
  };

  const stop = async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_GRACE_MS);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
  };

  const ready = new Promise<void>((resolve, reject) => {
    pendingReady = { count: config.WORKERS, resolve: () => undefined, reject };
    pendingReady.resolve = () => {
      // Later replacements count down again without anyone waiting.
      pendingReady.resolve = () => undefined;
      resolve();
    };
  });
  for (let i = 0; i < config.WORKERS; i++) fork(i);
  try {
    await ready;
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop, failed };
}

/** The primary's side of the SSE relay: which worker holds which session, and the deliveries in flight. */
class PrimaryRelay {
  private readonly owners = new Map<string, Worker>();
  private readonly inFlight = new Map<number, { origin: Worker; originId: number; owner: Worker }>();
  private nextId = 1;

  fromWorker(worker: Worker, m: ToPrimary): void {
    if (m.sp === 'sse-open') this.owners.set(m.session, worker);
    else if (m.sp === 'sse-close') {
      if (this.owners.get(m.session) === worker) this.owners.delete(m.session);
    } else if (m.sp === 'sse-forward') {
      const owner = this.owners.get(m.session);
      if (!owner || owner === worker || owner.isDead()) {
        return send(worker, { sp: 'sse-result', id: m.id, status: 404 });
      }
      const id = this.nextId++;
      this.inFlight.set(id, { origin: worker, originId: m.id, owner });
      send(owner, { sp: 'sse-deliver', id, session: m.session, userId: m.userId, message: m.message });
    } else if (m.sp === 'sse-result') {
      const entry = this.inFlight.get(m.id);
      if (!entry) return;
      this.inFlight.delete(m.id);
      send(entry.origin, { sp: 'sse-result', id: entry.originId, status: m.status });
    }
  }

  /** A worker exited: its sessions are gone, and messages on their way to it will not arrive. */
  gone(worker: Worker): void {
    for (const [session, owner] of this.owners) if (owner === worker) this.owners.delete(session);
    for (const [id, entry] of this.inFlight) {
      if (entry.owner !== worker && entry.origin !== worker) continue;
      this.inFlight.delete(id);
      if (entry.origin !== worker) send(entry.origin, { sp: 'sse-result', id: entry.originId, status: 404 });
    }
  }
}

function send(worker: Worker, message: ToWorker): void {
  if (!worker.isDead() && worker.isConnected()) worker.send(message);
}

/** A worker's side of the SSE relay, over its IPC channel to the primary. */
export function workerRelay(): SseRelay {
  const pending = new Map<number, (status: number) => void>();
  let deliver: ((session: string, userId: string, message: unknown) => Promise<number>) | undefined;
  let nextId = 1;
  const toPrimary = (m: ToPrimary) => {
    if (process.connected) process.send!(m);
  };
  process.on('message', (m: unknown) => {
    if (!isOurs(m)) return;
    const msg = m as ToWorker;
    if (msg.sp === 'sse-result') {
      pending.get(msg.id)?.(msg.status);
      pending.delete(msg.id);
    } else if (msg.sp === 'sse-deliver') {
      void (deliver?.(msg.session, msg.userId, msg.message) ?? Promise.resolve(404))
        .catch(() => 400)
        .then((status) => toPrimary({ sp: 'sse-result', id: msg.id, status }));
    }
  });
  return {
    opened: (session) => toPrimary({ sp: 'sse-open', session }),
    closed: (session) => toPrimary({ sp: 'sse-close', session }),
    forward: (session, userId, message) =>
      new Promise<number>((resolve) => {
        if (!process.connected) return resolve(503);
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve(503);
        }, RELAY_TIMEOUT_MS);
        pending.set(id, (status) => {
          clearTimeout(timer);
          resolve(status);
        });
        toPrimary({ sp: 'sse-forward', id, session, userId, message });
      }),
    serve: (fn) => {
      deliver = fn;
    },
  };
}

/** Tells the primary this worker is listening at `url`. */
export function announceReady(url: string): void {
  if (process.connected) process.send!({ sp: 'ready', url } satisfies ToPrimary);
}
