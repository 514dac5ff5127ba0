/**
 * Assistants benchmark (issue 13): `npx tsx bench/assistants.bench.ts`.
 *
 * In one run, with a scripted OpenAI-compatible provider (test/helpers/scripted-llm.ts) and a real Skillport
 * server (`startServer`, embedded PGlite in a fresh data dir, LOG_LEVEL=info written to /dev/null) in this
 * process, sequential keep-alive requests, interleaved per round (direct, Skillport, direct, Skillport, …):
 * 1. non-streaming latency: `POST /v1/chat/completions` to the provider directly vs through an assistant with no
 *    tools (p50/p99; the added p50 is the figure);
 * 2. streaming time to first token (first content chunk), direct vs through Skillport;
 * 3. tool-loop step overhead: a turn where the model calls `load_skill_metadata` once and then answers (two model
 *    calls) through Skillport, against two direct model calls; the difference is one server step.
 *
 * Environment: BENCH_REQUESTS (per measurement and round, default 300), BENCH_ROUNDS (default 3), BENCH_CHUNK_GAP_MS
 * (ms between the streamed answer's pieces, default 5).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config/index.js';
import { startServer } from '../src/server/start.js';
import { ScriptedLlm } from '../test/helpers/scripted-llm.js';
import { percentile } from './lib.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHUNK_GAP_MS = Number(process.env.BENCH_CHUNK_GAP_MS ?? 5);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** One POST; resolves with the ms to the first content chunk (streaming) and to the end. */
function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ first: number; total: number }> {
  const started = performance.now();
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
          ...headers,
        },
      },
      (res) => {
        let first = 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (!first && /"content":"[^"]/.test(text)) first = performance.now() - started;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${res.statusCode} ${text.slice(0, 200)}`));
          resolve({ first, total: performance.now() - started });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function measure(n: number, run: () => Promise<{ first: number; total: number }>) {
  const total: number[] = [];
  const first: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await run();
    total.push(r.total);
    first.push(r.first);
  }
  return { total, first };
}

const fmt = (xs: number[]) =>
  `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms`;
const median = (xs: number[]) => percentile(xs, 50);

async function main() {
  const llm = await new ScriptedLlm().start();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skillport-bench-assistants-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    COMMANDS_ENABLED: 'false',
    AUTH_RATE_LIMIT_PER_IP: '100000',
  });
  const server = await startServer(config, { logDestination: pino.destination('/dev/null') });
  try {
    const api = async (method: string, p: string, body: unknown, token?: string) => {
      const res = await fetch(server.url + p, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${p}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<any>;
    };
    const session = (
      await api('POST', '/api/v1/auth/register', {
        email: 'b@example.com',
        username: 'bench',
        password: 'bench-password-long',
      })
    ).access_token;
    const provider = await api(
      'POST',
      '/api/v1/providers',
      { name: 'scripted', kind: 'openai-compatible', base_url: llm.url, api_key: 'sk-bench' },
      session,
    );
    await api(
      'POST',
      '/api/v1/assistants',
      { name: 'plain', provider_id: provider.id, model: 'scripted-1', skills: [] },
      session,
    );
    await api(
      'POST',
      '/api/v1/assistants',
      { name: 'tooled', provider_id: provider.id, model: 'scripted-1', skills: 'all' },
      session,
    );
    const key = (await api('POST', '/api/v1/api-keys', { name: 'bench', can_call_assistant: true }, session))
      .token;
    const auth = { authorization: `Bearer ${key}` };
    const messages = [{ role: 'user', content: 'Say something short.' }];
    // Pieces a few ms apart, as a model producing tokens: the first one's arrival is then what TTFT measures, not
    // the time to process the whole answer (written at once, the two are the same).
    llm.fallback = {
      content: 'A short answer of about forty characters.',
      chunkSize: 8,
      chunkGapMs: CHUNK_GAP_MS,
    };
    const direct = (stream: boolean) => () =>
      post(
        `${llm.url}/chat/completions`,
        { model: 'scripted-1', messages, stream },
        { authorization: 'Bearer sk-bench' },
      );
    const via = (stream: boolean) => () =>
      post(`${server.url}/v1/chat/completions`, { model: 'plain', messages, stream }, auth);
    const twoDirect = async () => {
      const a = await direct(false)();
      const b = await direct(false)();
      return { first: 0, total: a.total + b.total };
    };
    const toolTurn = async () => {
      llm.script({ tool_calls: [{ name: 'load_skill_metadata', arguments: {} }] });
      return post(`${server.url}/v1/chat/completions`, { model: 'tooled', messages }, auth);
    };
    await measure(50, direct(false));
    await measure(50, via(false));
    await measure(20, toolTurn);
    const rows: Record<string, number[]> = {};
    const add = (k: string, v: number) => (rows[k] ??= []).push(v);
    for (let round = 0; round < ROUNDS; round++) {
      const d = await measure(REQUESTS, direct(false));
      const v = await measure(REQUESTS, via(false));
      add('direct p50', median(d.total));
      add('via p50', median(v.total));
      add('added p50', median(v.total) - median(d.total));
      const ds = await measure(REQUESTS, direct(true));
      const vs = await measure(REQUESTS, via(true));
      add('direct ttft', median(ds.first));
      add('via ttft', median(vs.first));
      add('added ttft', median(vs.first) - median(ds.first));
      const two = await measure(Math.ceil(REQUESTS / 3), twoDirect);
      const tools = await measure(Math.ceil(REQUESTS / 3), toolTurn);
      add('two direct calls p50', median(two.total));
      add('tool turn p50', median(tools.total));
      add('step overhead', median(tools.total) - median(two.total));
      console.log(
        `round ${round + 1}: non-streaming direct ${fmt(d.total)} | via ${fmt(v.total)}; TTFT direct ${fmt(ds.first)} | via ${fmt(vs.first)}; tool turn ${fmt(tools.total)} vs two direct ${fmt(two.total)}`,
      );
    }
    console.log(
      `\nNode ${process.version}, ${REQUESTS} requests per measurement, median of ${ROUNDS} rounds:`,
    );
    for (const [k, v] of Object.entries(rows)) console.log(`  ${k.padEnd(22)} ${median(v).toFixed(2)} ms`);
  } finally {
    await server.stop();
    await llm.close();
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
