import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { ensureBuilt } from '../helpers/build.js';
import { killServers, serveCli, type Served } from '../helpers/cli.js';
import { TEST_DB_KIND } from '../helpers/db.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { until } from '../helpers/until.js';

/**
 * PostgreSQL crashes, restarts and freezes under write load, against a cluster of this test's own and a real
 * `skillport serve` process. Every write that was acknowledged (2xx) must be in the database afterwards, the
 * server must survive every fault, fail fast with 503 while the database is away, answer /ready within 2 s,
 * and serve again by itself once the database is back. (Run with the PostgreSQL pass of the suite.)
 */
let cluster: PgCluster | undefined;
let server: Served;
let cwd: string;

beforeAll(async () => {
  if (TEST_DB_KIND !== 'postgres') return;
  ensureBuilt();
  cwd = mkdtempSync(path.join(tmpdir(), 'skillport-pgfault-cwd-'));
  cluster = await startPgCluster();
  server = await serveCli(['--port', '0'], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: cwd,
      LOG_LEVEL: 'info',
      DATABASE_URL: cluster.url,
      SECRET_KEY: 'fault-test-secret-key-0123456789abcdef',
      COMMANDS_ENABLED: 'false',
      AUTH_RATE_LIMIT_PER_IP: '10000',
    },
  });
}, 120_000);

afterAll(async () => {
  await killServers();
  cluster?.destroy();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

interface Outcome {
  status: number;
  code?: string;
  ms: number;
}

async function timed(call: () => Promise<Response>): Promise<Outcome & { body?: unknown }> {
  const started = performance.now();
  const res = await call();
  const body = await res.json().catch(() => undefined);
  return {
    status: res.status,
    code: (body as { error?: { code?: string } } | undefined)?.error?.code,
    ms: performance.now() - started,
    body,
  };
}

describe.skipIf(TEST_DB_KIND !== 'postgres')('PostgreSQL faults under write load', () => {
  it('loses no acknowledged write, survives, fails fast with 503 and resumes by itself', async () => {
    const { api } = await registerUser(new Api(server.url), 'faulty');
    const token = api.token!;
    const acked: string[] = [];
    const outcomes: Outcome[] = [];
    let writing = true;
    let n = 0;
    const writer = async (w: number) => {
      while (writing) {
        const name = `w${w}-${n++}`;
        const o = await timed(() =>
          fetch(`${server.url}/api/v1/tokens`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name, scopes: ['api'] }),
          }),
        );
        outcomes.push(o);
        if (o.status === 201) acked.push(name);
        else await new Promise((r) => setTimeout(r, 50)); // pace retries while the database is away
      }
    };
    const writers = Array.from({ length: 4 }, (_, w) => writer(w));
    const ready = () => timed(() => fetch(`${server.url}/ready`));
    const readyTimes: number[] = [];
    const expectAwayAnswers = async () => {
      const r = await ready();
      readyTimes.push(r.ms);
      expect(r.status).toBe(503);
      const write = await timed(() =>
        fetch(`${server.url}/api/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'while-away', scopes: ['api'] }),
        }),
      );
      expect(write).toMatchObject({ status: 503, code: 'database_unavailable' });
      expect(write.ms).toBeLessThan(1_000); // refused at once, not after a timeout
    };
    const moreWrites = async () => {
      const before = acked.length;
      await until('writes acknowledged again', async () => acked.length >= before + 5);
    };
    const readyAgain = () =>
      until('ready again', async () => {
        const r = await ready();
        readyTimes.push(r.ms);
        return r.status === 200;
      });

    try {
      for (let crash = 0; crash < 3; crash++) {
        await moreWrites();
        cluster!.stop('immediate');
        await until('503 while stopped', async () => (await ready()).status === 503);
        await expectAwayAnswers();
        expect(server.child.exitCode).toBeNull();
        cluster!.start();
        await readyAgain();
      }
      await moreWrites();
      cluster!.stop('fast');
      cluster!.start();
      await readyAgain();
      await moreWrites();

      cluster!.freeze();
      try {
        await until('503 while frozen', async () => {
          const r = await ready();
          readyTimes.push(r.ms);
          return r.status === 503;
        });
        await expectAwayAnswers();
      } finally {
        cluster!.thaw();
      }
      await readyAgain();
      await moreWrites();
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    expect(server.child.exitCode).toBeNull();
    // Every acknowledged write is in the database.
    const client = new pg.Client({ connectionString: cluster!.url });
    await client.connect();
    const rows = await client.query<{ name: string }>('select name from api_tokens');
    await client.end();
    const stored = new Set(rows.rows.map((r) => r.name));
    expect(acked.filter((name) => !stored.has(name))).toEqual([]);
    expect(acked.length).toBeGreaterThanOrEqual(30);

    // Failures were clear 503s, never a hang or a 500; /ready always answered within 2 s.
    const failures = outcomes.filter((o) => o.status !== 201);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.filter((o) => o.status !== 503 || o.code !== 'database_unavailable')).toEqual([]);
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(5_000);
    expect(Math.max(...readyTimes)).toBeLessThan(2_000);
    expect(server.output()).not.toMatch(/Unhandled 'error' event/);
    const worst503 = Math.max(...failures.map((o) => o.ms));
    console.info(
      `faults: ${acked.length} acknowledged writes, all stored; ${failures.length} 503s, slowest ${Math.round(worst503)} ms; ` +
        `slowest /ready ${Math.round(Math.max(...readyTimes))} ms`,
    );
  }, 90_000);
});
