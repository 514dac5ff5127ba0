/**
 * CLI start-up benchmark: `npm run build && node --import tsx bench/cli.bench.ts`.
 *
 * Measures the built `bin/skillport.js` (what users run), each case BENCH_STARTS times, against the bare baseline
 * of the same run (`node -e 0`, Node's own start-up):
 * - `skillport --version` and `skillport --help`: spawn until exit;
 * - `skillport stdio --skills-dir DIR` (a folder with one skill): spawn until the answer to the client's first
 *   request (`initialize`, written to stdin right after the spawn) arrives on stdout. Also with
 *   COMMANDS_ENABLED=false, which skips the sandbox's bubblewrap probe.
 * Prints median / p95 and the difference to the bare start. With BENCH_BIN_BEFORE=<path of another build's
 * bin/skillport.js> (e.g. the commit before a change, built in a scratch checkout) the same cases run for it too,
 * interleaved with ours, for a same-run before/after.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile } from './lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/skillport.js');
const BEFORE = process.env.BENCH_BIN_BEFORE;
const STARTS = Number(process.env.BENCH_STARTS ?? 15);

const INITIALIZE = `${JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
})}\n`;

/** Milliseconds from spawn until the process exits (code 0 required). */
function timeToExit(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.resume();
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - t) / 1e6)
        : reject(new Error(`${args.join(' ')}: exit ${code}`)),
    );
  });
}

/** Milliseconds from spawn until the answer to `initialize` arrives on stdout; then the process is ended. */
function timeToFirstAnswer(bin: string, dir: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(process.execPath, [bin, 'stdio', '--skills-dir', dir], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    });
    let out = '';
    child.on('error', reject);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('"id":1')) return;
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (!out.includes('"serverInfo"')) reject(new Error(`unexpected answer: ${out}`));
      child.once('exit', () => resolve(ms));
      child.stdin.end();
    });
    child.stdin.write(INITIALIZE);
  });
}

/** Every case STARTS times, interleaved round by round (the machine is shared), after one warm-up round. */
async function measure(cases: Array<[string, () => Promise<number>]>): Promise<Array<[string, number[]]>> {
  for (const [, fn] of cases) await fn();
  const times = cases.map(([name]) => [name, [] as number[]] as [string, number[]]);
  for (let i = 0; i < STARTS; i++)
    for (let k = 0; k < cases.length; k++) times[k]![1].push(await cases[k]![1]());
  return times;
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skillport-cli-bench-'));
  mkdirSync(path.join(dir, 'hello'));
  writeFileSync(
    path.join(dir, 'hello/SKILL.md'),
    '---\nname: hello\ndescription: Says hello.\n---\n# Hello\n',
  );
  const cases: Array<[string, () => Promise<number>]> = [['bare: node -e 0', () => timeToExit(['-e', '0'])]];
  for (const [label, bin] of BEFORE
    ? [
        ['', BIN],
        ['before: ', BEFORE],
      ]
    : [['', BIN]]) {
    cases.push(
      [`${label}skillport --version`, () => timeToExit([bin!, '--version'])],
      [`${label}skillport --help`, () => timeToExit([bin!, '--help'])],
      [`${label}stdio: first answer`, () => timeToFirstAnswer(bin!, dir, {})],
      [
        `${label}stdio: first answer, no commands`,
        () => timeToFirstAnswer(bin!, dir, { COMMANDS_ENABLED: 'false' }),
      ],
    );
  }
  const rows = await measure(cases);
  rmSync(dir, { recursive: true, force: true });
  const bare = percentile(rows[0]![1], 50);
  console.log(`# CLI start-up — ${os.cpus().length} CPUs, Node ${process.version}; ${STARTS} runs each, ms`);
  console.log(`${'case'.padEnd(42)}  median      p95   over bare node`);
  for (const [name, t] of rows) {
    const m = percentile(t, 50);
    console.log(
      `${name.padEnd(42)}${m.toFixed(1).padStart(8)} ${percentile(t, 95).toFixed(1).padStart(8)} ${(m - bare).toFixed(1).padStart(10)}`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
