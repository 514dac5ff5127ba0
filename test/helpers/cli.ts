import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './build.js';

/** The real CLI, as users run it: `node bin/skillport.js`, which loads the compiled dist/ (see `ensureBuilt`). */
const BIN = path.join(ROOT, 'bin', 'skillport.js');

export interface CliOptions {
  cwd: string;
  env: Record<string, string>;
  input?: string;
  /** Run as another user (e.g. ['setpriv', '--reuid=65534', …]): a prefix command line. */
  prefix?: string[];
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCli(args: string[], opts: CliOptions): ChildProcess {
  const [cmd, ...pre] = [...(opts.prefix ?? []), process.execPath, BIN, ...args];
  return spawn(cmd!, pre, { cwd: opts.cwd, env: opts.env });
}

export function runCli(args: string[], opts: CliOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin!.end(opts.input ?? '');
  });
}

export interface Served {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills every server a test started and that still runs (for afterAll: a failed test must not leave one). */
export async function killServers(): Promise<void> {
  await Promise.all(
    [...running].map((child) => {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      return gone;
    }),
  );
}

/** Starts `skillport serve ARGS`; resolves once it prints the URL it listens on. */
export function serveCli(args: string[], opts: CliOptions): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(['serve', ...args], opts);
    running.add(child);
    let out = '';
    const exited = new Promise<number | null>((r) =>
      child.on('exit', (code) => {
        running.delete(child);
        r(code);
      }),
    );
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (more) => (out += more));
        resolve({
          url: m[1]!,
          child,
          output: () => out,
          exited,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (out += d));
    void exited.then((code) => reject(new Error(`serve exited with ${code} before listening:\n${out}`)));
  });
}
