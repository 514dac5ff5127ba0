import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';

/**
 * The spawn helper: a small long-lived Node process that starts the sandbox's runs, so the server never forks.
 *
 * `child_process.spawn()` forks the calling process, and the kernel copies its page tables: in a server of
 * 300–560 MiB that blocks the event loop 5–15 ms per run (issue 11), for every user of the instance. The helper is a
 * bare `node -e` (≈40 MiB, nothing of ours loaded, an empty environment), so its forks are cheap and block nobody.
 *
 * Protocol (Node IPC, `advanced` serialization so Buffers travel as bytes): the server asks `spawn` with an argv,
 * cwd, environment and a stdio layout ('pipe' or 'ignore' per fd); the helper answers `spawned` with the pid,
 * relays each pipe's bytes (`data`, `close`), the process' `exit` or `error`, and writes/ends/destroys pipes on the
 * server's behalf. Output fds can carry a forward limit: past it the helper keeps draining the pipe (the child never
 * blocks) but drops the bytes, as the server's capture would.
 *
 * Lifetime: the helper exits when its IPC channel closes (the server ended, even by SIGKILL), killing the process
 * groups it started; the sandbox's launcher has PR_SET_PDEATHSIG on the helper, so strict runs die with it anyway.
 * Signals are sent by the server itself (it knows every pid and process group), as before.
 */
const HELPER_SCRIPT = `'use strict';
const { spawn } = require('node:child_process');
const runs = new Map();
const send = (m) => { if (process.connected) process.send(m); };
process.on('disconnect', () => {
  for (const r of runs.values()) { try { process.kill(-r.child.pid, 'SIGKILL'); } catch {} }
  process.exit(0);
});
process.on('message', (m) => {
  const r = runs.get(m.id);
  if (m.t === 'spawn') return start(m);
  const s = r && r.child.stdio[m.fd];
  if (!s || s.destroyed) return;
  if (m.t === 'write') s.write(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
  else if (m.t === 'end') s.end();
  else if (m.t === 'destroy') s.destroy();
});
function start(m) {
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: true, stdio: m.stdio });
  } catch (err) {
    send({ t: 'spawned', id: m.id, pid: 0 });
    return send({ t: 'error', id: m.id, message: String(err && err.message) });
  }
  runs.set(m.id, { child });
  send({ t: 'spawned', id: m.id, pid: child.pid || 0 });
  child.stdio.forEach((s, fd) => {
    if (!s || m.stdio[fd] !== 'pipe') return;
    const limit = m.forwardLimits[fd] ?? -1;
    let forwarded = 0;
    s.on('error', () => {});
    s.on('data', (data) => {
      if (limit >= 0 && forwarded >= limit) return;
      forwarded += data.length;
      send({ t: 'data', id: m.id, fd, data });
    });
    s.on('close', () => send({ t: 'close', id: m.id, fd }));
  });
  child.on('error', (err) => send({ t: 'error', id: m.id, message: err.message }));
  child.on('exit', (code, signal) => send({ t: 'exit', id: m.id, code, signal }));
  child.on('close', () => runs.delete(m.id));
}
send({ t: 'ready' });
`;

export type ProcessExit = { code: number | null; signal: NodeJS.Signals | null; error?: Error };

/** A process the helper started: its pid (0 when it could not start), its pipes by fd, and its end. */
export interface SpawnedProcess {
  readonly pid: number;
  /** One stream per fd asked as 'pipe' (readable: the child's output; writable: to the child), else null. */
  readonly stdio: ReadonlyArray<Duplex | null>;
  readonly exited: Promise<ProcessExit>;
}

export interface SpawnRequest {
  file: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  stdio: ReadonlyArray<'pipe' | 'ignore'>;
  /** Per fd: bytes relayed before the helper starts dropping (it keeps draining). Absent: everything. */
  forwardLimits?: Readonly<Record<number, number>>;
}

type HelperMessage =
  | { t: 'ready' }
  | { t: 'spawned'; id: number; pid: number }
  | { t: 'data'; id: number; fd: number; data: Uint8Array }
  | { t: 'close'; id: number; fd: number }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'error'; id: number; message: string };

/** One pipe of a remote child: bytes the helper relays come out, writes go to the helper. */
class RelayedPipe extends Duplex {
  remoteClosed = false;
  constructor(private readonly tell: (t: 'write' | 'end' | 'destroy', data?: Uint8Array) => void) {
    super({ allowHalfOpen: false });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.tell('write', chunk);
    done();
  }
  override _final(done: (err?: Error | null) => void): void {
    if (!this.remoteClosed) this.tell('end');
    done();
  }
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.remoteClosed) this.tell('destroy');
    done(err);
  }
  /** The child's side of the pipe closed: no more data; the stream ends (and closes) like a real pipe. */
  remoteClose(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    if (!this.writableEnded) this.end();
  }
}

interface Pending {
  pipes: Array<RelayedPipe | null>;
  spawned: (pid: number) => void;
  exit: (e: ProcessExit) => void;
}

export class SpawnHelper {
  private nextId = 1;
  private readonly runs = new Map<number, Pending>();
  private ended = false;

  private constructor(private readonly proc: ChildProcess) {
    proc.on('message', (m: HelperMessage) => this.onMessage(m));
    proc.once('exit', () => this.onHelperGone());
    proc.once('error', () => this.onHelperGone());
  }

  /** Starts the helper and waits until it listens. */
  static start(): Promise<SpawnHelper> {
    const proc = spawn(process.execPath, ['-e', HELPER_SCRIPT], {
      env: {}, // nothing of the server's environment (secrets) reaches the helper or, through it, a run
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    return new Promise((resolve, reject) => {
      const failed = (err: Error) =>
        reject(new Error(`the sandbox's spawn helper did not start: ${err.message}`));
      proc.once('error', failed);
      proc.once('exit', (code) => failed(new Error(`exit ${code}`)));
      proc.once('message', (m: HelperMessage) => {
        proc.off('error', failed);
        proc.removeAllListeners('exit');
        if (m.t === 'ready') resolve(new SpawnHelper(proc));
        else reject(new Error(`the sandbox's spawn helper said ${JSON.stringify(m)}`));
      });
    });
  }

  /** The helper's pid: the parent of every launcher (which dies with it). */
  get pid(): number {
    return this.proc.pid ?? 0;
  }

  /** False once the helper has gone (a new one is needed). */
  get alive(): boolean {
    return !this.ended;
  }

  spawn(req: SpawnRequest): Promise<SpawnedProcess> {
    if (this.ended) return Promise.reject(new Error("the sandbox's spawn helper has exited"));
    const id = this.nextId++;
    const send = (m: object) => {
      if (this.proc.connected) this.proc.send(m);
    };
    const pipes = req.stdio.map((kind, fd) =>
      kind === 'pipe'
        ? new RelayedPipe((t, data) => send(data ? { t, id, fd, data } : { t, id, fd })).on('error', () => {})
        : null,
    );
    let exit: (e: ProcessExit) => void = () => undefined;
    const exited = new Promise<ProcessExit>((r) => (exit = r));
    return new Promise((resolve) => {
      this.runs.set(id, { pipes, exit, spawned: (pid) => resolve({ pid, stdio: pipes, exited }) });
      send({
        t: 'spawn',
        id,
        file: req.file,
        args: req.args,
        cwd: req.cwd,
        env: req.env,
        stdio: req.stdio,
        forwardLimits: req.forwardLimits ?? {},
      });
    });
  }

  private onMessage(m: HelperMessage): void {
    if (m.t === 'ready') return;
    const run = this.runs.get(m.id);
    if (!run) return;
    switch (m.t) {
      case 'spawned':
        return run.spawned(m.pid);
      case 'data':
        run.pipes[m.fd]?.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
        return;
      case 'close':
        run.pipes[m.fd]?.remoteClose();
        return;
      case 'exit':
        run.exit({ code: m.code, signal: m.signal });
        return this.forgetWhenClosed(m.id, run);
      case 'error':
        run.exit({ code: null, signal: null, error: new Error(m.message) });
        return this.forgetWhenClosed(m.id, run);
    }
  }

  /** Pipes may still deliver after the exit (a background process holding them); the entry goes with the last. */
  private forgetWhenClosed(id: number, run: Pending): void {
    const open = run.pipes.filter((p): p is RelayedPipe => p !== null && !p.remoteClosed);
    if (open.length === 0) this.runs.delete(id);
    else
      void Promise.all(open.map((p) => new Promise((r) => p.once('close', r)))).then(() =>
        this.runs.delete(id),
      );
  }

  /** The helper died (or was closed): every run it held ends now, with an error. */
  private onHelperGone(): void {
    this.ended = true;
    for (const run of this.runs.values()) {
      run.spawned(0);
      run.exit({ code: null, signal: null, error: new Error("the sandbox's spawn helper exited") });
      for (const p of run.pipes) p?.remoteClose();
    }
    this.runs.clear();
  }

  /** Ends the helper (it kills the process groups it still holds) and waits for it. */
  async close(): Promise<void> {
    if (this.ended) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.disconnect();
    await gone;
  }
}
