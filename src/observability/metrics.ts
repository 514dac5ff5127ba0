import { readdir, stat, statfs } from 'node:fs/promises';
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
