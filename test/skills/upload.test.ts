import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../src/db/index.js';
import { sha256Hex } from '../../src/shared/crypto.js';
import { BLOB_CHUNK_BYTES, DatabaseBlobStore } from '../../src/skills/blob-store.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../../src/skills/package/index.js';
import { Uploads, sweepStaleUploadDirs, STALE_UPLOAD_DIR_MS } from '../../src/skills/upload.js';
import { Api, registerUser } from '../helpers/api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skillZip } from '../helpers/zips.js';

let t: TestServer;
let alice: Api;
let bob: Api;

beforeAll(async () => {
  t = await startTestServer({ SKILL_UPLOAD_CONCURRENCY: '1', SKILL_UPLOAD_QUEUE: '0' });
  const anon = new Api(t.baseUrl);
  alice = (await registerUser(anon, 'upalice')).api;
  bob = (await registerUser(anon, 'upbob')).api;
});
afterAll(() => t.close());

const query = async (text: ReturnType<typeof sql>): Promise<any[]> =>
  ((await t.server.ctx.db.db.execute(text)) as unknown as { rows: any[] }).rows;

/** The row versions (xmin) of a blob and its chunks: they change exactly when the blob is written. */
async function rowVersions(digest: string): Promise<string[]> {
  const head = await query(sql`select xmin::text as x from blobs where sha256 = ${digest}`);
  const chunks = await query(
    sql`select xmin::text as x from blob_chunks where sha256 = ${digest} order by seq`,
  );
  return [...head, ...chunks].map((r) => String(r.x));
}

describe('blob storage', () => {
  it('stores a large file in bounded chunks and gives back the same bytes', async () => {
    const big = randomBytes(BLOB_CHUNK_BYTES * 3 + 1234);
    const res = await alice.post(
      '/api/v1/skills',
      await skillZip('chunked', undefined, [{ path: 'big.bin', data: big }]),
    );
    expect(res.status).toBe(201);
    const digest = sha256Hex(big);
    const chunks = await query(
      sql`select seq, length(data) as n from blob_chunks where sha256 = ${digest} order by seq`,
    );
    expect(chunks.map((c) => [Number(c.seq), Number(c.n)])).toEqual([
      [1, BLOB_CHUNK_BYTES],
      [2, BLOB_CHUNK_BYTES],
      [3, 1234],
    ]);
    const back = await fetch(`${t.baseUrl}/api/v1/skills/chunked/versions/1/files/big.bin`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(Buffer.from(await back.arrayBuffer()).equals(big)).toBe(true);
  });

  it('still reads blobs written whole, before chunking', async () => {
    const data = randomBytes(BLOB_CHUNK_BYTES * 2);
    const digest = sha256Hex(data);
    await t.server.ctx.db.db.insert(tables.blobs).values({ sha256: digest, size: data.length, data });
    const store = new DatabaseBlobStore();
    expect((await store.get(t.server.ctx.db.db, digest))?.equals(data)).toBe(true);
    await t.server.ctx.db.db.execute(sql`delete from blobs where sha256 = ${digest}`);
  });
});

describe('upload timing does not tell whether another user has the same bytes', () => {
  it("rewrites bytes another user stored, and skips only the uploader's own", async () => {
    const shared = randomBytes(BLOB_CHUNK_BYTES * 2 + 10);
    const digest = sha256Hex(shared);
    const extra = [{ path: 'data.bin', data: shared }];
    expect((await alice.post('/api/v1/skills', await skillZip('side-a', undefined, extra))).status).toBe(201);
    const first = await rowVersions(digest);
    expect(first).toHaveLength(3);

    // Alice's new version keeps the file: her own bytes are not sent again.
    const v2 = await skillZip('side-a', 'Second version of side-a. Use it when testing.', extra);
    expect((await alice.post('/api/v1/skills/side-a/versions', v2)).status).toBe(201);
    expect(await rowVersions(digest)).toEqual(first);

    // Bob uploads the same bytes: they take the full write path, as if nobody had them.
    expect((await bob.post('/api/v1/skills', await skillZip('side-b', undefined, extra))).status).toBe(201);
    const afterBob = await rowVersions(digest);
    expect(afterBob).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(afterBob[i]).not.toBe(first[i]);

    const back = await fetch(`${t.baseUrl}/api/v1/skills/side-b/versions/1/files/data.bin`, {
      headers: { authorization: `Bearer ${bob.token}` },
    });
    expect(Buffer.from(await back.arrayBuffer()).equals(shared)).toBe(true);
  });
});

describe('upload concurrency gate', () => {
  it('answers 503 with Retry-After, before reading the body, when every place is taken', async () => {
    const zip = await skillZip('held-open');
    // An upload whose body is still arriving holds the only place (concurrency 1, queue 0).
    let status = 0;
    const req = http.request(`${t.baseUrl}/api/v1/skills`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice.token}`,
        'content-type': 'application/zip',
        'content-length': String(zip.length),
      },
    });
    const done = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        status = res.statusCode ?? 0;
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
    req.write(zip.subarray(0, 10));
    // Poll until the held upload has been admitted (its temp dir exists).
    const uploadsDir = path.join(t.dataDir, 'uploads');
    const deadline = Date.now() + 10_000;
    while ((await readdir(uploadsDir)).length === 0) {
      if (Date.now() > deadline) throw new Error('the held upload never started');
      await new Promise((r) => setTimeout(r, 20));
    }

    const busy = await bob.post('/api/v1/skills', await skillZip('turned-away'));
    expect(busy.status).toBe(503);
    expect(busy.body.error.code).toBe('server_busy');
    expect(busy.headers.get('retry-after')).toBe('5');

    req.end(zip.subarray(10));
    await done;
    expect(status).toBe(201);
    expect((await bob.post('/api/v1/skills', await skillZip('turned-away'))).status).toBe(201);
    expect(await readdir(uploadsDir)).toEqual([]);
  });

  it('runs at most `concurrency` stores at once and lets the queued ones through in turn', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'skillport-gate-'));
    const uploads = await Uploads.open({ dir, limits: DEFAULT_ARCHIVE_LIMITS, concurrency: 2, queue: 10 });
    const zip = await skillZip('gated');
    const request = () =>
      new Request('http://x/', {
        method: 'POST',
        headers: { 'content-type': 'application/zip' },
        body: zip as unknown as BodyInit,
      });
    let active = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const all = Array.from({ length: 6 }, () =>
      uploads.ingest(request(), async (pkg) => {
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((resolve) => releases.push(resolve));
        active--;
        return pkg.files.length;
      }),
    );
    let released = 0;
    while (released < 6) {
      const deadline = Date.now() + 10_000;
      while (releases.length === 0) {
        if (Date.now() > deadline) throw new Error('no upload got a turn');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(active).toBeLessThanOrEqual(2);
      releases.shift()!();
      released++;
    }
    expect(await Promise.all(all)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(peak).toBe(2);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('upload temp dirs left by killed processes', () => {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
  let live: ChildProcess | undefined;
  afterAll(() => live?.kill('SIGKILL'));

  it('are removed at start; those of running processes are not', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'skillport-sweep-'));
    // A real server-side upload in a process that is then killed with SIGKILL, mid-body.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.resolve('test/skills/fixtures/hold-upload.ts'), dir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => String(chunk).includes('receiving') && resolve());
      child.on('exit', (code) => reject(new Error(`the upload process exited early (${code})`)));
    });
    const [killedDir] = await readdir(dir);
    expect(killedDir).toMatch(new RegExp(`^${child.pid}@`));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const liveHere = `${live.pid}@${host}.aaaaaa`;
    const liveElsewhere = `${live.pid}@another-host.bbbbbb`;
    const oldElsewhere = `1@another-host.cccccc`;
    const earlierRunOfThisPid = `${process.pid}@${host}.dddddd`;
    for (const name of [liveHere, liveElsewhere, oldElsewhere, earlierRunOfThisPid]) {
      await mkdir(path.join(dir, name));
    }
    const old = new Date(Date.now() - STALE_UPLOAD_DIR_MS - 60_000);
    await utimes(path.join(dir, oldElsewhere), old, old);

    // Starting the upload path (what the composition root does) sweeps the folder.
    await Uploads.open({ dir, limits: DEFAULT_ARCHIVE_LIMITS, concurrency: 1, queue: 0 });
    expect((await readdir(dir)).sort()).toEqual([liveElsewhere, liveHere].sort());
    expect(existsSync(path.join(dir, killedDir!))).toBe(false);

    // Once the live process is gone too, its dir on this host goes at the next start.
    live.kill('SIGKILL');
    await new Promise((resolve) => live!.once('exit', resolve));
    expect(await sweepStaleUploadDirs(dir)).toEqual([liveHere]);
    await rm(dir, { recursive: true, force: true });
  });
});
