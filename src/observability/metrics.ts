import { readdir, readFile, stat, statfs } from 'node:fs/promises';
import { totalmem } from 'node:os';
import path from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per server instance (not prom-client's global one), so several servers can run in one process
 * (tests, benchmarks) without sharing counters.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'skillport_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'skillport_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly toolCalls = new Counter({
    name: 'skillport_mcp_tool_calls_total',
    help: 'MCP tool calls by tool and outcome',
    labelNames: ['tool', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly toolDuration = new Histogram({
    name: 'skillport_mcp_tool_call_duration_seconds',
    help: 'MCP tool call latency by tool',
    labelNames: ['tool'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });
  /** Upstream MCP servers (by server id, never argument values): calls forwarded and their latency. */
  readonly upstreamCalls = new Counter({
    name: 'skillport_upstream_tool_calls_total',
    help: 'Tool calls forwarded to upstream MCP servers by server id and outcome',
    labelNames: ['server', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'skillport_upstream_tool_call_duration_seconds',
    help: 'Latency of tool calls forwarded to upstream MCP servers by server id',
    labelNames: ['server'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });

  readonly credentialUses = new Counter({
    name: 'skillport_credential_uses_total',
    help: 'Authenticated requests by kind of credential (api_token, session): the alert rules watch it for spikes',
    labelNames: ['via'] as const,
    registers: [this.registry],
  });

  readonly assistantTokens = new Counter({
    name: 'skillport_assistant_tokens_total',
    help: 'Model tokens used through assistants, by assistant name and kind (prompt, completion)',
    labelNames: ['assistant', 'kind'] as const,
    registers: [this.registry],
  });
  readonly assistantTurns = new Counter({
    name: 'skillport_assistant_turns_total',
    help: 'Chat turns on /v1/chat/completions by assistant name and outcome',
    labelNames: ['assistant', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(opts: { dataDir: string; databaseUp: () => Promise<boolean> }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'skillport_' });
    new Gauge({
      name: 'skillport_database_up',
      help: '1 when the database answers',
      registers: [this.registry],
      async collect() {
        this.set((await opts.databaseUp()) ? 1 : 0);
      },
    });
    const diskUsage = cachedDirSize(opts.dataDir);
    new Gauge({
      name: 'skillport_data_dir_bytes',
      help: 'Bytes used by files under DATA_DIR (refreshed at most once a minute)',
      registers: [this.registry],
      async collect() {
        this.set(await diskUsage());
      },
    });
    new Gauge({
      name: 'skillport_data_dir_free_bytes',
      help: 'Free bytes on the filesystem holding DATA_DIR',
      registers: [this.registry],
      async collect() {
        const s = await statfs(opts.dataDir).catch(() => null);
        this.set(s ? s.bavail * s.bsize : 0);
      },
    });
    new Gauge({
      name: 'skillport_data_dir_filesystem_bytes',
      help: 'Size of the filesystem holding DATA_DIR (with the free bytes: the disk-usage alert)',
      registers: [this.registry],
      async collect() {
        const s = await statfs(opts.dataDir).catch(() => null);
        this.set(s ? s.blocks * s.bsize : 0);
      },
    });
    const memoryLimit = memoryLimitBytes();
    new Gauge({
      name: 'skillport_memory_limit_bytes',
      help: "The memory this process may use: its cgroup's limit, or the machine's memory when there is none",
      registers: [this.registry],
      async collect() {
        this.set(await memoryLimit);
      },
    });
  }
}

function cachedDirSize(dir: string): () => Promise<number> {
  let value = 0;
  let at = 0;
  return async () => {
    if (Date.now() - at > 60_000) {
      value = await dirSize(dir);
      at = Date.now();
    }
    return value;
  };
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirSize(p);
    else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** cgroup v2 `memory.max`, then v1 `memory.limit_in_bytes`; the machine's memory when neither sets a limit. */
async function memoryLimitBytes(): Promise<number> {
  const machine = totalmem();
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    const text = await readFile(file, 'utf8').catch(() => null);
    const value = text ? Number(text.trim()) : NaN; // "max" (no limit) is NaN
    if (Number.isFinite(value) && value > 0) return Math.min(value, machine);
  }
  return machine;
}
