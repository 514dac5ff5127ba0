/**
 * Sandbox overhead benchmark: `npx tsx bench/sandbox.bench.ts` (as root, with bubblewrap installed).
 *
 * 1. Latency of one tiny python run, same process, sequential, every case interleaved round by round (the machine
 *    is shared: each round's cases see the same load, and each sandbox figure is also given as the median of its
 *    differences to the bare spawn of the same round):
 *    - bare `child_process.spawn` of python3 (script file, and `-c "print(1)"`),
 *    - the sandbox in strict mode (`python3 -c "print(1)"`: strict takes a shell line, and a script file),
 *    - the sandbox in whitelist mode (script file `p.py` containing `print(1)`: whitelist refuses `-c`, by design).
 *    Prints median / p95 and the ratio to the bare spawn of the same thing.
 * 2. Throughput: 8 users running concurrently (globalConcurrency 8), runs per second.
 * 3. The same through the MCP tool: `run_shell_command` called with the SDK client against a real Skillport server
 *    (embedded database, strict level), sequential latency of `python3 -c "print(1)"` next to the bare spawn, and
 *    8 users (each with their own token and client) calling it concurrently.
 *
 * With BENCH_SANDBOX_BEFORE=<path of another checkout's src/sandbox/index.ts> (e.g. the commit before a change, in
 * a scratch copy with node_modules linked), its strict sandbox runs the same command as one more interleaved case.
 *
 * Sandbox figures include everything a real call pays: work dir creation and removal, file writes, uid drop,
 * rlimits, bwrap namespaces, changed-file scan, process sweep, optional cgroups.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import path from 'node:path';
import {
  createSandbox,
  defaultSandboxConfig,
  type Sandbox,
  type SecurityLevel,
} from '../src/sandbox/index.js';
import { detectCgroups } from '../src/sandbox/cgroup.js';
import type * as sandboxModule from '../src/sandbox/index.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import yazl from 'yazl';
import { loadConfig } from '../src/config/index.js';
import { startServer } from '../src/server/start.js';
import { percentile } from './lib.js';

const WARMUP = 5;
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 60);
const USERS = 8;
const RUNS_PER_USER = Number(process.env.BENCH_RUNS_PER_USER ?? 15);

const script = { path: 'p.py', data: Buffer.from('print(1)\n'), executable: false };

function bareSpawn(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 && out === '1\n' ? resolve() : reject(new Error(`bad run: ${code} ${out}`)),
    );
  });
}

interface Case {
  name: string;
  /** The bare case this one is compared with. */
  ref?: string;
  run: () => Promise<void>;
}

/**
 * Runs every case ITERATIONS times, interleaved (one of each per round, in a rotating order), so that all of them
 * see the same load: the machine is shared, and load that comes and goes would otherwise favour whichever case
 * ran in a quiet minute. Returns each case's times by name.
 */
async function measureInterleaved(cases: Case[]): Promise<Map<string, number[]>> {
  for (let i = 0; i < WARMUP; i++) for (const c of cases) await c.run();
  const times = new Map(cases.map((c) => [c.name, [] as number[]]));
  for (let i = 0; i < ITERATIONS; i++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(i + k) % cases.length]!;
      const t = process.hrtime.bigint();
      await c.run();
      times.get(c.name)!.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  return times;
}

const fmt = (n: number) => n.toFixed(2).padStart(8);

async function sandboxRun(sb: Sandbox, userId: string, command: string, withFile: boolean): Promise<void> {
  const r = await sb.run({ userId, files: withFile ? [script] : [], command });
  if (r.exitCode !== 0 || r.stdout !== '1\n') throw new Error(`bad sandbox run: ${JSON.stringify(r)}`);
}

/** Runs per second of `users` concurrent loops of `run`, RUNS_PER_USER each. */
async function throughput(users: number, run: (user: number) => Promise<void>): Promise<string> {
  const t = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: users }, async (_, u) => {
      for (let i = 0; i < RUNS_PER_USER; i++) await run(u);
    }),
  );
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  const total = users * RUNS_PER_USER;
  return `${total} runs in ${secs.toFixed(2)} s = ${(total / secs).toFixed(1)} runs/s`;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root (the sandbox drops to an unprivileged uid)');
  const base = await mkdtemp(path.join(os.tmpdir(), 'skillport-bench-'));
  await chmod(base, 0o711);
  const bareDir = path.join(base, 'bare');
  await mkdir(bareDir);
  await writeFile(path.join(bareDir, 'p.py'), 'print(1)\n');

  const make = (level: SecurityLevel) =>
    createSandbox(
      defaultSandboxConfig({
        level,
        workRoot: path.join(base, `runs-${level}`),
        perUserConcurrency: 2,
        globalConcurrency: USERS,
      }),
    );
  const strict = make('strict');
  const whitelist = make('whitelist');
  const beforeModule = process.env.BENCH_SANDBOX_BEFORE
    ? ((await import(path.resolve(process.env.BENCH_SANDBOX_BEFORE))) as typeof sandboxModule)
    : null;
  const before = beforeModule?.createSandbox(
    beforeModule.defaultSandboxConfig({
      level: 'strict',
      workRoot: path.join(base, 'runs-before'),
      perUserConcurrency: 2,
      globalConcurrency: USERS,
    }),
  );
  const tool = await toolClients(base);
  const cg = await detectCgroups();
  const cgInfo = cg ? `cgroup v${cg.version} (${cg.controllers.join(', ') || 'kill only'})` : 'none';
  await cg?.close();

  console.log(`# Sandbox overhead — ${os.cpus().length} CPUs, Node ${process.version}, cgroups: ${cgInfo}`);
  console.log(`# ${ITERATIONS} interleaved rounds after ${WARMUP} warm-up rounds; times in ms`);
  console.log(
    `# load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );

  const BARE_C = 'bare spawn: python3 -c "print(1)"';
  const BARE_FILE = 'bare spawn: python3 p.py';
  const cases: Case[] = [
    { name: BARE_FILE, run: () => bareSpawn(['p.py'], bareDir) },
    { name: BARE_C, run: () => bareSpawn(['-c', 'print(1)'], bareDir) },
    {
      name: 'strict:    python3 -c "print(1)"',
      ref: BARE_C,
      run: () => sandboxRun(strict, 'bench', 'python3 -c "print(1)"', false),
    },
    ...(before
      ? [
          {
            name: 'before strict: python3 -c "print(1)"',
            ref: BARE_C,
            run: () => sandboxRun(before, 'bench', 'python3 -c "print(1)"', false),
          },
        ]
      : []),
    {
      name: 'strict:    python3 p.py',
      ref: BARE_FILE,
      run: () => sandboxRun(strict, 'bench', 'python3 p.py', true),
    },
    {
      name: 'whitelist: python3 p.py',
      ref: BARE_FILE,
      run: () => sandboxRun(whitelist, 'bench', 'python3 p.py', true),
    },
    { name: 'tool:      python3 -c "print(1)"', ref: BARE_C, run: () => tool.call(0) },
  ];
  const times = await measureInterleaved(cases);
  console.log(`${'case'.padEnd(36)}  median       p95   ratio   over bare (median of pairs)`);
  for (const c of cases) {
    const t = times.get(c.name)!;
    const ref = c.ref ? times.get(c.ref)! : null;
    const ratio = ref ? percentile(t, 50) / percentile(ref, 50) : 1;
    // Same round, same load: the difference of each pair, then its median.
    const over = ref
      ? percentile(
          t.map((x, i) => x - ref[i]!),
          50,
        )
      : 0;
    console.log(
      `${c.name.padEnd(36)}${fmt(percentile(t, 50))}  ${fmt(percentile(t, 95))}  ${`${ratio.toFixed(1)}×`.padStart(5)}  ${fmt(over)}`,
    );
  }

  console.log(`\n# Throughput: ${USERS} users × ${RUNS_PER_USER} runs, all concurrent`);
  console.log(`bare      python3 p.py: ${await throughput(USERS, () => bareSpawn(['p.py'], bareDir))}`);
  for (const [level, sb] of [
    ['strict', strict],
    ['whitelist', whitelist],
  ] as const) {
    const line = await throughput(USERS, (u) => sandboxRun(sb, `user-${u}`, 'python3 p.py', true));
    console.log(`${level.padEnd(9)} python3 p.py: ${line}`);
  }
  // The server is this process: how long its event loop was blocked while 8 users ran commands through it.
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const line = await throughput(USERS, (u) => tool.call(u));
  loop.disable();
  console.log(`tool      python3 -c "print(1)": ${line}`);
  console.log(
    `server event loop delay meanwhile: p50 ${(loop.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms`,
  );

  await tool.close();
  await strict.close();
  await whitelist.close();
  await before?.close();
  await rm(base, { recursive: true, force: true });
}

/**
 * run_shell_command through MCP against a real server in this process (strict, embedded database): HTTP, auth,
 * the skill's files from the database, the sandbox, the audit rows. One user (with a token and an SDK client) per
 * concurrent caller.
 */
async function toolClients(
  base: string,
): Promise<{ call(user: number): Promise<void>; close(): Promise<void> }> {
  const server = await startServer(
    loadConfig({
      PORT: '0',
      DATA_DIR: path.join(base, 'server'),
      LOG_LEVEL: 'warn',
      COMMAND_SECURITY_LEVEL: 'strict',
      COMMAND_CONCURRENCY_GLOBAL: String(USERS),
      AUTH_RATE_LIMIT_PER_IP: '1000',
    }),
  );
  const zip = await skillZip();
  const clients: Client[] = [];
  for (let u = 0; u < USERS; u++) {
    const post = (p: string, body: unknown, token?: string, type = 'application/json') =>
      fetch(server.url + p, {
        method: 'POST',
        headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: type === 'application/json' ? JSON.stringify(body) : (body as BodyInit),
      }).then((r) => r.json() as Promise<Record<string, any>>);
    const reg = await post('/api/v1/auth/register', {
      email: `bench${u}@example.com`,
      username: `bench${u}`,
      password: 'bench-password-long',
    });
    await post('/api/v1/skills', new Blob([new Uint8Array(zip)]), reg.access_token, 'application/zip');
    const { token } = await post('/api/v1/tokens', { name: 'bench', scopes: ['mcp'] }, reg.access_token);
    const client = new Client(
      { name: 'bench', version: '1' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
  }
  return {
    async call(user) {
      const r = (await clients[user]!.callTool({
        name: 'run_shell_command',
        arguments: { skill_name: 'bench', command: 'python3 -c "print(1)"' },
      })) as { isError?: boolean; content: Array<{ text?: string }> };
      if (r.isError || !r.content[0]?.text?.includes('--- stdout ---\n1\n'))
        throw new Error(JSON.stringify(r));
    },
    async close() {
      for (const c of clients) await c.close();
      await server.stop();
    },
  };
}

async function skillZip(): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(
    Buffer.from('---\nname: bench\ndescription: Benchmark skill\n---\nRun p.py\n'),
    'bench/SKILL.md',
  );
  zip.addBuffer(Buffer.from('print(1)\n'), 'bench/p.py');
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
