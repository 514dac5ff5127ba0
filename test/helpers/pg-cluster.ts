import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of the test's own (initdb into a temp dir, run as user `postgres` on a free port), for
 * fault tests: it can be crashed, restarted and frozen without touching the machine's cluster. `destroy()`
 * removes it; a process exit stops it too, should the test die first.
 */
export class ThrowawayCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<ThrowawayCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'skillport-pgfault-'));
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    chownSync(dir, uid, gid);
    const cluster = new ThrowawayCluster(dir, await freePort());
    try {
      await cluster.asPostgres('initdb', [
        '-D',
        cluster.data,
        '-U',
        'postgres',
        '--auth=trust',
        '-E',
        'UTF8',
      ]);
      await cluster.start();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    process.once('exit', () => cluster.killNow());
    return cluster;
  }

  private get data(): string {
    return path.join(this.dir, 'data');
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off`;
    await this.asPostgres('pg_ctl', [
      '-D',
      this.data,
      '-l',
      path.join(this.dir, 'log'),
      '-o',
      options,
      '-w',
      'start',
    ]);
  }

  /** A crash: every backend is killed at once, without a checkpoint (crash recovery at the next start). */
  async stopImmediate(): Promise<void> {
    await this.asPostgres('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
  }

  async restartFast(): Promise<void> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off`;
    await this.asPostgres('pg_ctl', [
      '-D',
      this.data,
      '-l',
      path.join(this.dir, 'log'),
      '-o',
      options,
      '-m',
      'fast',
      '-w',
      'restart',
    ]);
  }

  /** SIGSTOP (or SIGCONT) the postmaster and all its children: the server keeps its sockets but answers nothing. */
  signalAll(signal: 'SIGSTOP' | 'SIGCONT'): void {
    const postmaster = this.postmasterPid();
    if (!postmaster) return;
    for (const pid of [postmaster, ...childrenOf(postmaster)]) {
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    }
  }

  async destroy(): Promise<void> {
    this.signalAll('SIGCONT');
    await this.stopImmediate().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private killNow(): void {
    const pid = this.postmasterPid();
    if (!pid) return;
    this.signalAll('SIGCONT');
    try {
      process.kill(pid, 'SIGQUIT'); // the postmaster's immediate shutdown
    } catch {
      // already gone
    }
  }

  private postmasterPid(): number | null {
    try {
      return Number(readFileSync(path.join(this.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return null;
    }
  }

  private async asPostgres(tool: string, args: string[]): Promise<void> {
    await run('runuser', ['-u', 'postgres', '--', path.join(BIN, tool), ...args], {
      cwd: this.dir,
      timeout: 60_000,
    });
  }
}

function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
