/**
 * The load generator of `bench/mcp.bench.ts` (issue 11), in a process of its own so that the CPU it reports is its
 * own and nothing else the benchmark does runs beside it. The bench sends it jobs over IPC.
 *
 * A job: `clients` raw TCP sockets (keep-alive, one per client), each sending the same pre-serialized HTTP request
 * (recorded from the official SDK client) as soon as the previous answer is complete. An answer is parsed only as
 * far as finding its end (the header block, then its Content-Length or, without one, the chunked terminator) and
 * checked with byte searches: status 200, a JSON-RPC `"result"`, no `"isError":true`. So a server that fails
 * cannot look fast, and the generator costs 0.06–0.16 cores at 3,000–5,500 calls/s where `http.request` cost 0.2–0.33
 * (bench/README.md, MCP).
 *
 * Around the measured part (after the warm-up) it reads the CPU used by every process involved from /proc: itself,
 * the server's processes (a primary and its workers each), the PostgreSQL backends of the bench's database, Redis,
 * and the whole machine (`/proc/stat`), so that what is left for the server is seen rather than guessed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { percentile } from './lib.js';

export interface LoadJob {
  port: number;
  /** The whole HTTP request (head and body), base64. */
  request: string;
  clients: number;
  warmup: number;
  maxCalls: number;
  seconds: number;
  /** The server's pid (with `serve --workers`, the primary: its children are counted too). */
  serverPid: number;
  /** PostgreSQL database whose backends are counted (absent for PGlite). */
  database?: string;
}

/** CPU use during the measured part, in cores (CPU seconds per second). */
export interface CpuUse {
  loadGen: number;
  /** Each server process, the one started first (a primary) first. */
  server: number[];
  postgres: number;
  /** How many PostgreSQL backends of the bench's database were found (and counted). */
  postgresBackends: number;
  redis: number;
  /** Every CPU of the machine, busy (user, system, interrupts, steal), whoever used it. */
  machineBusy: number;
  /**
   * The kernel's interrupt work (irq, softirq: much of loopback networking), part of `machineBusy`; the kernel also
   * charges it to the process it interrupted, so it overlaps the figures above.
   */
  interrupts: number;
  cpus: number;
}

export interface LoadResult {
  calls: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
  /** The body size of the last successful answer (as sent: a chunked one with its framing). */
  bytes: number;
  cpu: CpuUse;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = [Buffer.from('\r\ncontent-length:'), Buffer.from('\r\nContent-Length:')];
/** The last chunk of a chunked body (no trailers). A chunk of SSE data ends with `\n\n\r\n`, never with this. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const RESULT = Buffer.from('"result"');
const IS_ERROR = Buffer.from('"isError":true');

/**
 * Where the answer at the start of `buf` ends and its body starts, or null while it is incomplete. The header name
 * is matched as servers on Node write it (lower case, or as the application spelled it).
 */
function answerEnd(buf: Buffer): { end: number; body: number } | null {
  const head = buf.indexOf(HEAD_END);
  if (head < 0) return null;
  const body = head + 4;
  for (const name of CONTENT_LENGTH) {
    const at = buf.indexOf(name);
    if (at < 0 || at > head) continue;
    let i = at + name.length;
    while (buf[i] === 0x20) i++;
    let length = 0;
    for (let c = buf[i]!; c >= 0x30 && c <= 0x39; c = buf[++i]!) length = length * 10 + c - 0x30;
    return buf.length >= body + length ? { end: body + length, body } : null;
  }
  const n = buf.length;
  return n >= body + LAST_CHUNK.length && buf.compare(LAST_CHUNK, 0, LAST_CHUNK.length, n - 5, n) === 0
    ? { end: n, body }
    : null;
}

/** A successful tool result: status 200, a JSON-RPC result, not flagged as an error. */
function succeeded(buf: Buffer, body: number, end: number): boolean {
  // "HTTP/1.1 200 ": the status code is bytes 9–11.
  if (buf[9] !== 0x32 || buf[10] !== 0x30 || buf[11] !== 0x30) return false;
  const view = buf.subarray(body, end);
  return view.indexOf(RESULT) >= 0 && view.indexOf(IS_ERROR) < 0;
}

/** Larger answers than this would not fit the read buffer kept per socket (the bench's are a few KB). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * One client's keep-alive connection. Its reads land in one buffer of its own (`onread`: no buffer allocated per
 * read, no stream machinery) and go to the current `onRead`; `onClose` hears the socket end. Both are set per
 * phase (warm-up, measurement) by `drive`.
 */
class Conn {
  socket!: net.Socket;
  onRead: (data: Buffer) => void = () => undefined;
  onClose: () => void = () => undefined;
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);

  constructor(private readonly port: number) {}

  /** A new socket (the first, or after the server closed one); `connected` once it is. */
  open(connected: () => void): void {
    const socket = net.connect({
      host: '127.0.0.1',
      port: this.port,
      noDelay: true,
      onread: {
        buffer: this.buffer,
        callback: (n: number) => {
          this.onRead(this.buffer.subarray(0, n));
          return true;
        },
      },
    });
    this.socket = socket;
    socket.once('connect', connected);
    socket.on('error', () => undefined); // the close that follows is what counts
    socket.once('close', () => this.onClose());
  }
}

/**
 * Sends `request` on every connection, back to back, until `more()` says stop; `done(ok, bytes, sentAt)` per
 * answer. Resolves when every connection has had its last answer. A connection the server closes (which a
 * keep-alive server does not do) fails the call in flight and is opened again for the next.
 */
function drive(
  conns: Conn[],
  request: Buffer,
  more: () => boolean,
  done: (ok: boolean, bytes: number, sentAt: number) => void,
): Promise<void> {
  return new Promise((resolve) => {
    let active = 0;
    const finish = () => {
      if (--active === 0) resolve();
    };
    for (const conn of conns) {
      if (!more()) break;
      active++;
      // An answer that arrives in several reads is gathered here (the read buffer is reused by the next read).
      const gathered = Buffer.allocUnsafe(MAX_ANSWER_BYTES);
      let have = 0;
      let sentAt = 0;
      const send = () => {
        sentAt = performance.now();
        conn.socket.write(request);
      };
      const stop = () => {
        conn.onRead = () => undefined;
        conn.onClose = () => undefined;
        finish();
      };
      conn.onRead = (data) => {
        let buf = data;
        if (have > 0) {
          have += data.copy(gathered, have);
          buf = gathered.subarray(0, have);
        }
        const answer = answerEnd(buf);
        if (!answer) {
          if (buf === data) have = data.copy(gathered, 0);
          if (have >= MAX_ANSWER_BYTES) conn.socket.destroy(); // an answer too large for this generator: a failure
          return;
        }
        // One request in flight per socket: the answer is the whole of what arrived.
        have = 0;
        done(succeeded(buf, answer.body, answer.end), answer.end - answer.body, sentAt);
        if (more()) send();
        else stop();
      };
      conn.onClose = () => {
        have = 0;
        done(false, 0, sentAt);
        if (!more()) return stop();
        sentAt = performance.now(); // a connection that cannot be opened fails this call
        conn.open(send);
      };
      if (conn.socket.destroyed) {
        sentAt = performance.now();
        conn.open(send);
      } else send();
    }
    if (active === 0) resolve();
  });
}

/** `count` open connections to `port`. */
function connectAll(port: number, count: number): Promise<Conn[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Conn>((resolve, reject) => {
          const conn = new Conn(port);
          conn.onClose = () => reject(new Error(`could not connect to port ${port}`));
          conn.open(() => {
            conn.onClose = () => undefined;
            resolve(conn);
          });
        }),
    ),
  );
}

// ---- CPU use, from /proc ----------------------------------------------------------------------------------------

const TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process (all its threads), in seconds; 0 once it is gone. */
function processCpu(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** PostgreSQL backends connected to `database`, and Redis servers, by their command lines. */
function databaseProcesses(database: string | undefined): { postgres: number[]; redis: number[] } {
  const postgres: number[] = [];
  const redis: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    // A backend's title: "postgres: [<cluster>: ]<user> <database> <client> <state>".
    if (database && cmdline.startsWith('postgres: ') && cmdline.includes(` ${database} `)) postgres.push(pid);
    else if (cmdline.startsWith('redis-server')) redis.push(pid);
  }
  return { postgres, redis };
}

/** Busy, interrupt (irq, softirq) and total CPU seconds of the whole machine (every CPU), from /proc/stat. */
function machineCpu(): { busy: number; interrupts: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const t = values.map(Number);
  const idle = t[3]! + t[4]!; // idle, iowait
  const total = t.slice(0, 8).reduce((a, b) => a + b, 0); // up to steal (guest time is inside user)
  return { busy: (total - idle) / TICKS, interrupts: (t[5]! + t[6]!) / TICKS, total: total / TICKS };
}

interface CpuSnapshot {
  own: NodeJS.CpuUsage;
  server: Map<number, number>;
  postgres: Map<number, number>;
  redis: Map<number, number>;
  machine: { busy: number; interrupts: number; total: number };
}

function snapshot(serverPids: number[], db: { postgres: number[]; redis: number[] }): CpuSnapshot {
  const read = (pids: number[]) => new Map(pids.map((p) => [p, processCpu(p)]));
  return {
    own: process.cpuUsage(),
    server: read(serverPids),
    postgres: read(db.postgres),
    redis: read(db.redis),
    machine: machineCpu(),
  };
}

function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, seconds: number): CpuUse {
  const delta = (x: Map<number, number>, y: Map<number, number>) =>
    [...x].map(([pid, before]) => Math.max(0, (y.get(pid) ?? before) - before) / seconds);
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  return {
    loadGen: (b.own.user - a.own.user + b.own.system - a.own.system) / 1e6 / seconds,
    server: delta(a.server, b.server),
    postgres: sum(delta(a.postgres, b.postgres)),
    postgresBackends: a.postgres.size,
    redis: sum(delta(a.redis, b.redis)),
    machineBusy: (b.machine.busy - a.machine.busy) / seconds,
    interrupts: (b.machine.interrupts - a.machine.interrupts) / seconds,
    cpus: (b.machine.total - a.machine.total) / seconds,
  };
}

// ---- one job ------------------------------------------------------------------------------------------------------

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const request = Buffer.from(job.request, 'base64');
  const conns = await connectAll(job.port, job.clients);
  try {
    let warm = 0;
    let lastBytes = 0;
    let errors = 0;
    await drive(
      conns,
      request,
      () => warm++ < job.warmup,
      () => undefined,
    );
    const serverPids = [job.serverPid, ...childrenOf(job.serverPid)];
    const db = databaseProcesses(job.database);
    const latencies = new Float64Array(job.maxCalls);
    let issued = 0;
    let answered = 0;
    const before = snapshot(serverPids, db);
    const started = performance.now();
    const deadline = started + job.seconds * 1000;
    await drive(
      conns,
      request,
      () => issued < job.maxCalls && performance.now() < deadline && (issued++, true),
      (ok, bytes, sentAt) => {
        latencies[answered++] = performance.now() - sentAt;
        if (ok) lastBytes = bytes;
        else errors++;
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuBetween(before, snapshot(serverPids, db), seconds);
    const measured = Array.from(latencies.subarray(0, answered));
    const [p50, p99] = [percentile(measured, 50), percentile(measured, 99)];
    return { calls: answered, seconds, p50, p99, errors, bytes: lastBytes, cpu };
  } finally {
    for (const c of conns) c.socket.destroy();
  }
}

// Run by the bench as a child process: one job per message, one result back. (Imported, by a test, it is not.)
if (
  process.send &&
  process.argv[1] &&
  import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href
) {
  process.on('message', (job: LoadJob) => {
    runLoad(job).then(
      (result) => process.send!({ result }),
      (err: Error) => process.send!({ error: err.message }),
    );
  });
}
