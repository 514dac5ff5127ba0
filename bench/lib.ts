/** Small pieces every benchmark uses: one way to take percentiles, one keep-alive HTTP request. */
import http from 'node:http';
import pg from 'pg';

/** Nearest-rank percentile of unsorted samples. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface Reply {
  status: number;
  body: string;
}

/** One request over `agent` (keep-alive) to 127.0.0.1:`port`; a string body is sent as JSON. */
export function request(
  agent: http.Agent,
  port: number,
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Reply> {
  const extra: Record<string, string> =
    body === undefined
      ? {}
      : typeof body === 'string'
        ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
        : { 'content-length': String(body.length) };
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, agent, headers: { ...headers, ...extra } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (data += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs one statement (create or drop a benchmark's database) on PostgreSQL at `url`, on a connection of its own. */
export async function runStatement(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
