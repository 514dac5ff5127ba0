/**
 * Search benchmark (issue 14): `npx tsx bench/search.bench.ts`.
 *
 * In process, on the search service itself (no HTTP): for each backend — embedded PGlite (in memory) and
 * PostgreSQL (a fresh database next to BENCH_DATABASE_URL, default the machine's postgres@127.0.0.1:5432) —
 *
 * 1. Query latency. The database holds BENCH_SKILLS (10,000) skills and BENCH_TOOLS (10,000) upstream-tool
 *    documents over BENCH_USERS (20) users, each skill with its full-text document (the expression of
 *    SkillsService.updateSearch) and every document embedded with BENCH_DIMS (384)-dimension vectors from a
 *    deterministic feature-hashing embedder; rows inserted with SQL, then VACUUM ANALYZE. One probe user (owning
 *    1/BENCH_USERS of each) runs BENCH_QUERIES (200) queries of 1–3 words (after 20 warm-up), skills and tools
 *    together (their tool list passed as the callable names), limit 10, in four modes interleaved in blocks:
 *    full text only; hybrid through pgvector (PGlite; PostgreSQL only when it has the extension); hybrid on the
 *    portable path (bytea vectors, cosine in JS; the vector cache warm after the warm-up). The query embedding is
 *    computed in process and cached per text as in production, so the figures are the database + ranking cost.
 * 2. Indexing throughput: BENCH_INDEX_SKILLS (300) skills uploaded through SkillsService, then the queue drained
 *    (the sync job reads each SKILL.md and writes the documents; the embed job embeds in batches of 64 with the
 *    in-process embedder and writes the vectors, and the pgvector mirror where there is one): documents/s.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { openDatabase, tables, type DatabaseHandle } from '../src/db/index.js';
import { createLogger } from '../src/observability/logger.js';
import { openSearch, SearchService, skillsSource, type Embedder } from '../src/search/index.js';
import { enablePgvector, writeAcceleratedVector } from '../src/search/pgvector.js';
import { encodeVector, normalise } from '../src/search/vectors.js';
import type { Principal } from '../src/shared/principal.js';
import { DatabaseBlobStore, SkillsService } from '../src/skills/index.js';
import { percentile, runStatement } from './lib.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SKILLS = env('BENCH_SKILLS', 10_000);
const TOOLS = env('BENCH_TOOLS', 10_000);
const USERS = env('BENCH_USERS', 20);
const DIMS = env('BENCH_DIMS', 384);
const QUERIES = env('BENCH_QUERIES', 200);
const INDEX_SKILLS = env('BENCH_INDEX_SKILLS', 300);
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'pglite,postgres').split(',');

const WORDS = (
  'pdf form invoice report spreadsheet excel chart graph image photo resize crop email inbox calendar meeting ' +
  'schedule github pull request commit branch issue review deploy docker kubernetes cluster log metric alert ' +
  'database query table schema migration backup restore translate language summary notes markdown slide ' +
  'presentation video audio transcript weather forecast map route search web page scrape browser test lint ' +
  'format build release package python node script shell file folder archive zip upload download sync ' +
  'customer ticket support invoice payment stripe order shipping product catalog inventory price budget ' +
  'finance tax contract legal policy security secret token password user account team project task todo'
).split(' ');

let seed = 42;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const pick = () => WORDS[Math.floor(rand() * WORDS.length)]!;
const phrase = (n: number) => Array.from({ length: n }, pick).join(' ');
/** Document text: a few domain words among many rarer ones, so that a query word is in some documents only. */
const rare = () => `t${Math.floor(rand() * 20_000)}`;
const text = (common: number, rarer: number) =>
  [...Array.from({ length: common }, pick), ...Array.from({ length: rarer }, rare)]
    .sort(() => rand() - 0.5)
    .join(' ');

/** Feature hashing: each word adds to a few fixed dimensions. Deterministic, not semantic. */
function hashEmbedder(model: string): Embedder {
  const embedOne = (text: string) => {
    const v = new Float32Array(DIMS);
    for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
      let h = 2166136261;
      for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
      for (let k = 0; k < 3; k++) v[(h >>> (k * 8)) % DIMS]! += k === 0 ? 1 : 0.5;
    }
    return normalise(v);
  };
  return { model, embed: async (texts) => texts.map(embedOne) };
}

async function openBackend(kind: string): Promise<{ handle: DatabaseHandle; drop(): Promise<void> }> {
  if (kind === 'pglite') {
    const handle = await openDatabase({});
    return { handle, drop: () => handle.close() };
  }
  const name = `skillport_bench_search_${randomBytes(4).toString('hex')}`;
  await runStatement(PG_URL, `create database ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ url: url.toString(), poolSize: 5 });
  return {
    handle,
    async drop() {
      await handle.close();
      await runStatement(PG_URL, `drop database if exists ${name} with (force)`);
    },
  };
}

async function seedCorpus(
  handle: DatabaseHandle,
  embedder: Embedder,
  accelerated: boolean,
): Promise<Principal[]> {
  const db = handle.db;
  const users = await db
    .insert(tables.users)
    .values(
      Array.from({ length: USERS }, (_, i) => ({
        email: `bench${i}@example.com`,
        username: `bench${i}`,
        passwordHash: 'x',
      })),
    )
    .returning({ id: tables.users.id });
  const batch = 500;
  for (let i = 0; i < SKILLS; i += batch) {
    const rows = Array.from({ length: Math.min(batch, SKILLS - i) }, (_, j) => {
      const n = i + j;
      return {
        ownerId: users[n % USERS]!.id,
        name: `skill-${n}-${pick()}`,
        description: `${text(3, 5)}.`,
        body: text(10, 50),
        currentVersionId: crypto.randomUUID(),
      };
    });
    const inserted = await db
      .insert(tables.skills)
      .values(rows.map(({ body: _b, ...r }) => r))
      .returning({ id: tables.skills.id });
    // Each skill's own body in its C part, as SkillsService.updateSearch writes it.
    await db.execute(sql`update skills set search = setweight(to_tsvector('simple', replace(name, '-', ' ')), 'A')
      || setweight(to_tsvector('english', description), 'B') || setweight(to_tsvector('english', b.body), 'C')
      from unnest(${`{${inserted.map((r) => r.id).join(',')}}`}::uuid[],
                  ${`{${rows.map((r) => `"${r.body}"`).join(',')}}`}::text[]) as b(id, body)
      where skills.id = b.id`);
    const texts = rows.map((r) => `${r.name} ${r.description} ${r.body}`);
    const vectors = await embedder.embed(texts);
    const docs = await db
      .insert(tables.searchDocuments)
      .values(
        rows.map((r, j) => ({
          kind: 'skill',
          sourceKey: inserted[j]!.id,
          skillId: inserted[j]!.id,
          name: r.name,
          description: r.description,
          contentHash: r.currentVersionId,
          embedText: texts[j]!,
          embedding: encodeVector(vectors[j]!),
          embeddingModel: embedder.model,
        })),
      )
      .returning({ id: tables.searchDocuments.id });
    if (accelerated)
      for (const [j, d] of docs.entries())
        await writeAcceleratedVector(db, d.id, embedder.model, vectors[j]!);
  }
  for (let i = 0; i < TOOLS; i += batch) {
    const rows = Array.from({ length: Math.min(batch, TOOLS - i) }, (_, j) => {
      const n = i + j;
      const name = `server${n % 37}__${pick()}_${pick()}_${n}`;
      const description = `${text(3, 7)}.`;
      return { ownerId: users[n % USERS]!.id, name, description, params: text(1, 3) };
    });
    const texts = rows.map((r) => `${r.name.replace(/_+/g, ' ')} ${r.description} ${r.params}`);
    const vectors = await embedder.embed(texts);
    const docs = await db
      .insert(tables.searchDocuments)
      .values(
        rows.map((r, j) => ({
          kind: 'tool',
          sourceKey: `${r.ownerId}/${r.name}`,
          ownerId: r.ownerId,
          name: r.name,
          description: r.description,
          contentHash: String(j),
          tsv: sql`setweight(to_tsvector('simple', ${r.name.replace(/_+/g, ' ')}), 'A')
            || setweight(to_tsvector('english', ${r.description}), 'B')
            || setweight(to_tsvector('english', ${r.params}), 'C')`,
          embedText: texts[j]!,
          embedding: encodeVector(vectors[j]!),
          embeddingModel: embedder.model,
        })) as never,
      )
      .returning({ id: tables.searchDocuments.id });
    if (accelerated)
      for (const [j, d] of docs.entries())
        await writeAcceleratedVector(db, d.id, embedder.model, vectors[j]!);
  }
  await db.execute(sql`vacuum analyze`);
  return users.map((u) => ({ userId: u.id, isAdmin: false, via: 'session', scopes: ['api', 'mcp'] }));
}

async function latency(handle: DatabaseHandle, kind: string) {
  const embedder = hashEmbedder('bench-hash');
  const accelerated = await enablePgvector(handle.db, handle.kind);
  const started = performance.now();
  const [probe] = await seedCorpus(handle, embedder, accelerated);
  console.log(
    `${kind}: seeded ${SKILLS} skills + ${TOOLS} tools in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const tools = (
    await handle.db
      .select({ name: tables.searchDocuments.name })
      .from(tables.searchDocuments)
      .where(sql`kind = 'tool' and owner_id = ${probe!.userId}`)
  ).map((r) => r.name);
  const modes: Array<[string, SearchService]> = [['full text', new SearchService(handle.db, null, false)]];
  if (accelerated) modes.push(['hybrid, pgvector', new SearchService(handle.db, embedder, true)]);
  modes.push(['hybrid, portable', new SearchService(handle.db, embedder, false)]);
  const queries = Array.from({ length: QUERIES + 20 }, () => phrase(1 + Math.floor(rand() * 3)));
  const samples = new Map<string, number[]>(modes.map(([m]) => [m, []]));
  let hits = 0;
  for (let block = 0; block < queries.length; block += 10) {
    for (const [mode, service] of modes) {
      for (const [i, text] of queries.slice(block, block + 10).entries()) {
        const t0 = performance.now();
        const answer = await service.search(probe!, {
          text,
          limit: 10,
          kinds: ['skill', 'tool'],
          callableTools: tools,
        });
        const ms = performance.now() - t0;
        hits += answer.results.length;
        if (block + i >= 20) samples.get(mode)!.push(ms);
      }
    }
  }
  if (!hits) throw new Error('no query found anything: the benchmark would measure nothing');
  const perUser = `${SKILLS / USERS} skills + ${tools.length} tools visible to the probe user`;
  console.log(`${kind}: query latency (${perUser}), ms`);
  const fullTextP50 = percentile(samples.get('full text')!, 50);
  for (const [mode, xs] of samples) {
    const p50 = percentile(xs, 50);
    console.log(
      `  ${mode.padEnd(18)} p50 ${p50.toFixed(1).padStart(6)}  p95 ${percentile(xs, 95).toFixed(1).padStart(6)}  ` +
        `(${(p50 / fullTextP50).toFixed(2)}× full text)`,
    );
  }
}

async function indexing(handle: DatabaseHandle, kind: string) {
  const skills = new SkillsService(handle.db, new DatabaseBlobStore());
  const [user] = await handle.db
    .insert(tables.users)
    .values({ email: 'indexer@example.com', username: 'indexer', passwordHash: 'x' })
    .returning();
  const principal: Principal = { userId: user!.id, isAdmin: false, via: 'session', scopes: ['api'] };
  for (let i = 0; i < INDEX_SKILLS; i++) {
    const md = `---\nname: index-${i}\ndescription: ${text(3, 7)}\n---\n${text(50, 250)}\n`;
    await skills.create(
      principal,
      {
        rootFolder: null,
        files: [{ path: 'SKILL.md', data: Buffer.from(md), executable: false }],
        skipped: [],
      },
      null,
    );
  }
  const room = await openSearch({
    db: handle,
    sources: [skillsSource(skills)],
    embedder: hashEmbedder('bench-index'),
    logger: createLogger('silent'),
    worker: false,
  });
  const t0 = performance.now();
  const jobs = await room.queue.drain();
  const seconds = (performance.now() - t0) / 1000;
  const status = await room.status();
  if (status.embedded < INDEX_SKILLS) throw new Error(`only ${status.embedded} documents embedded`);
  await room.close();
  console.log(
    `${kind}: indexing ${INDEX_SKILLS} skills (sync + embed, ${jobs} jobs): ${seconds.toFixed(2)} s, ` +
      `${(INDEX_SKILLS / seconds).toFixed(0)} docs/s`,
  );
}

for (const kind of BACKENDS) {
  const a = await openBackend(kind);
  try {
    await latency(a.handle, kind);
  } finally {
    await a.drop();
  }
  const b = await openBackend(kind);
  try {
    await indexing(b.handle, kind);
  } finally {
    await b.drop();
  }
}
