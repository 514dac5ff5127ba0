import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Transport } from '@modelcontextprotocol/client';
// The protocol core's framing, from the server SDK that is loaded anyway (client-sdk.ts).
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/server';

type Message = Parameters<Transport['send']>[0];

/** The last bytes of a process's stderr, with configured secret values replaced before they are kept. */
export class StderrRing {
  private chunks: string[] = [];
  private size = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly secrets: readonly string[],
  ) {}

  push(text: string): void {
    let clean = text;
    for (const s of this.secrets) if (s.length >= 4) clean = clean.split(s).join('***');
    this.chunks.push(clean);
    this.size += clean.length;
    while (this.size > this.maxBytes && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
    if (this.size > this.maxBytes) {
      this.chunks = [this.chunks[0]!.slice(-this.maxBytes)];
      this.size = this.chunks[0]!.length;
    }
  }

  text(): string {
    return this.chunks.join('');
  }
}

/** How long `close()` waits after closing stdin, and again after SIGTERM, before the next step. */
const GRACE_MS = 2_000;

/**
 * MCP over a child's stdin/stdout, replacing the SDK's stdio transport (connector-design.md §1.2, P1/P2): the child
 * runs in its own process group (`detached`), its death is reported on `exit` (not when a grandchild holding the
 * pipe finally closes it), and every way out kills the whole group. `close()` follows MCP's stdio shutdown order:
 * close stdin, wait, SIGTERM the group, wait, SIGKILL the group. Lines that are not JSON-RPC (garbage on stdout)
 * are reported through `onerror` and skipped.
 */
export class GroupStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: Message) => void;
  private child?: ChildProcessWithoutNullStreams;
  private readonly buffer = new ReadBuffer();
  private exited?: Promise<void>;
  private closed = false;

  constructor(
    private readonly argv: readonly string[],
    private readonly opts: { env: Record<string, string>; cwd?: string; stderr: StderrRing },
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.argv[0]!, this.argv.slice(1), {
        env: this.opts.env,
        cwd: this.opts.cwd,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.child = child;
      this.exited = new Promise((done) => child.once('exit', () => done()));
      child.once('error', (err) => {
        reject(err);
        this.onerror?.(err);
        this.finish();
      });
      child.once('spawn', () => resolve());
      child.once('exit', () => {
        // The main process is gone: whatever it left in its group goes too, and the connection is over now.
        this.killGroup('SIGKILL');
        this.finish();
      });
      child.stdout.on('data', (chunk: Buffer) => this.read(chunk));
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => this.opts.stderr.push(text));
      for (const s of [child.stdin, child.stdout, child.stderr]) s.on('error', () => undefined);
    });
  }

  send(message: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || !stdin.writable) return reject(new Error('Not connected'));
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      if (!(await this.exitedWithin(GRACE_MS))) {
        this.killGroup('SIGTERM');
        if (!(await this.exitedWithin(GRACE_MS))) this.killGroup('SIGKILL');
      }
      await this.exited;
    }
    this.killGroup('SIGKILL');
    this.finish();
  }

  private read(chunk: Buffer): void {
    this.buffer.append(chunk);
    for (;;) {
      let message: Message | null;
      try {
        message = this.buffer.readMessage();
      } catch (err) {
        this.onerror?.(
          new Error(`The server wrote something that is not JSON-RPC: ${(err as Error).message}`),
        );
        continue;
      }
      if (!message) return;
      this.onmessage?.(message);
    }
  }

  private async exitedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    const done = await Promise.race([this.exited!.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  }

  private killGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is already gone
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    this.onclose?.();
  }
}
