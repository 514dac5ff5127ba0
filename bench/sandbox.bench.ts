/**
 * Sandbox overhead benchmark: `npx tsx bench/sandbox.bench.ts` (as root, with bubblewrap installed).
 *
 * 1. Latency of one tiny python run, same process, sequential:
 *    - bare `child_process.spawn` of python3 (script file, and `-c "print(1)"`),
 *    - the sandbox in strict mode (`python3 -c "print(1)"`: strict takes a shell line, and a script file),
 *    - the sandbox in whitelist mode (script file `p.py` containing `print(1)`: whitelist refuses `-c`, by design).
 *    Prints median / p95 and the ratio to the bare spawn of the same thing.
 * 2. Throughput: 8 users running concurrently (globalConcurrency 8), runs per second.
 * 3. The same through the MCP tool: `run_shell_command` called with the SDK client against a real Skillport server
 *    (embedded database, strict level), sequential latency of `python3 -c "print(1)"` next to the bare spawn, and
 *    8 users (each with their own token and client) calling it concurrently.
 *
 * Sandbox figures include everything a real call pays: work dir creation and removal, file writes, uid drop,
 * rlimits, bwrap namespaces, changed-file scan, process sweep, optional cgroups.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  createSandbox,
  defaultSandboxConfig,
  type Sandbox,
  type SecurityLevel,
} from '../src/sandbox/index.js';
import { detectCgroups } from '../src/sandbox/cgroup.js';
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

async function measure(fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return times.sort((a, b) => a - b);
}

const fmt = (n: number) => n.toFixed(2).padStart(8);

async function sandboxRun(sb: Sandbox, userId: string, command: string, withFile: boolean): Promise<void> {
  const r = await sb.run({ userId, files: withFile ? [script] : [], command });
  if (r.exitCode !== 0 || r.stdout !== '1\n') throw new Error(`bad sandbox run: ${JSON.stringify(r)}`);
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root (the sandbox drops to an unprivileged uid)');
  const base = await mkdtemp(path.join(os.tmpdir(), 'skillport-bench-'));
  await chmod(base, 0o711);
  const bareDir = path.join(base, 'bare');
  await import('node:fs/promises').then((fs) => fs.mkdir(bareDir));
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
  const cg = await detectCgroups();
  const cgInfo = cg ? `cgroup v${cg.version} (${cg.controllers.join(', ') || 'kill only'})` : 'none';
  await cg?.close();

  console.log(`# Sandbox overhead — ${os.cpus().length} CPUs, Node ${process.version}, cgroups: ${cgInfo}`);
  console.log(`# ${ITERATIONS} sequential runs each after ${WARMUP} warm-up runs; times in ms\n`);

  const rows: Array<[string, number[], number[] | null]> = [];
  const bareFile = await measure(() => bareSpawn(['p.py'], bareDir));
  const bareC = await measure(() => bareSpawn(['-c', 'print(1)'], bareDir));
  rows.push(['bare spawn: python3 p.py', bareFile, null]);
  rows.push(['bare spawn: python3 -c "print(1)"', bareC, null]);
  rows.push([
    'strict:    python3 -c "print(1)"',
    await measure(() => sandboxRun(strict, 'bench', 'python3 -c "print(1)"', false)),
    bareC,
  ]);
  rows.push([
    'strict:    python3 p.py',
    await measure(() => sandboxRun(strict, 'bench', 'python3 p.py', true)),
    bareFile,
  ]);
  rows.push([
    'whitelist: python3 p.py',
    await measure(() => sandboxRun(whitelist, 'bench', 'python3 p.py', true)),
    bareFile,
  ]);

  console.log(`${'case'.padEnd(36)}  median       p95   ratio(median)`);
  for (const [name, t, ref] of rows) {
    const ratio = ref ? `${(percentile(t, 50) / percentile(ref, 50)).toFixed(1)}×` : '1.0×';
    console.log(
      `${name.padEnd(36)}${fmt(percentile(t, 50))}  ${fmt(percentile(t, 95))}   ${ratio.padStart(6)}`,
    );
  }

  console.log(`\n# Throughput: ${USERS} users × ${RUNS_PER_USER} runs of python3 p.py, all concurrent`);
  for (const [level, sb] of [
    ['strict', strict],
    ['whitelist', whitelist],
  ] as const) {
    const t = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: USERS }, async (_, u) => {
        for (let i = 0; i < RUNS_PER_USER; i++) await sandboxRun(sb, `user-${u}`, 'python3 p.py', true);
      }),
    );
    const secs = Number(process.hrtime.bigint() - t) / 1e9;
    const total = USERS * RUNS_PER_USER;
    console.log(
      `${level.padEnd(10)} ${total} runs in ${secs.toFixed(2)} s = ${(total / secs).toFixed(1)} runs/s`,
    );
  }
  {
    const t = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: USERS }, async () => {
        for (let i = 0; i < RUNS_PER_USER; i++) await bareSpawn(['p.py'], bareDir);
      }),
    );
    const secs = Number(process.hrtime.bigint() - t) / 1e9;
    console.log(
      `${'bare'.padEnd(10)} ${USERS * RUNS_PER_USER} runs in ${secs.toFixed(2)} s = ${((USERS * RUNS_PER_USER) / secs).toFixed(1)} runs/s`,
    );
  }

  await strict.close();
  await whitelist.close();
  await throughTheTool(base, bareC, bareDir);
  await rm(base, { recursive: true, force: true });
}

/** run_shell_command through MCP: HTTP, auth, the skill's files from the database, the sandbox, the audit row. */
async function throughTheTool(base: string, bareC: number[], bareDir: string): Promise<void> {
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
  const call = async (client: Client) => {
    const r = (await client.callTool({
      name: 'run_shell_command',
      arguments: { skill_name: 'bench', command: 'python3 -c "print(1)"' },
    })) as { isError?: boolean; content: Array<{ text?: string }> };
    if (r.isError || !r.content[0]?.text?.includes('--- stdout ---\n1\n')) throw new Error(JSON.stringify(r));
  };
  const times = await measure(() => call(clients[0]!));
  const bare = bareC.length ? bareC : await measure(() => bareSpawn(['-c', 'print(1)'], bareDir));
  console.log(`\n# Through the MCP tool (run_shell_command over /mcp, strict, embedded database)`);
  console.log(`${'case'.padEnd(36)}  median       p95   ratio(median)`);
  console.log(
    `${'tool: python3 -c "print(1)"'.padEnd(36)}${fmt(percentile(times, 50))}  ${fmt(percentile(times, 95))}   ${`${(percentile(times, 50) / percentile(bare, 50)).toFixed(1)}×`.padStart(6)}`,
  );
  const t = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (client) => {
      for (let i = 0; i < RUNS_PER_USER; i++) await call(client);
    }),
  );
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  const total = USERS * RUNS_PER_USER;
  console.log(
    `tool, ${USERS} users concurrently: ${total} runs in ${secs.toFixed(2)} s = ${(total / secs).toFixed(1)} runs/s`,
  );
  for (const c of clients) await c.close();
  await server.stop();
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
