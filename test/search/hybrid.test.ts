/**
 * Hybrid search on a real database (PGlite, or PostgreSQL with SKILLPORT_TEST_DB=postgres) with scripted
 * embeddings whose neighbours are known: indexing through the durable queue after uploads, the kind of match,
 * visibility and key restrictions applied before the limit, tools from a list source, a change of embedding
 * model re-indexing everything, and both vector paths (pgvector on PGlite, the portable one everywhere).
 */
import { EventEmitter, once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../src/db/index.js';
import { createLogger } from '../../src/observability/logger.js';
import {
  listSource,
  openSearch,
  SearchService,
  skillsSource,
  toolDocument,
  type SearchRoom,
} from '../../src/search/index.js';
import type { Principal } from '../../src/shared/principal.js';
import { DatabaseBlobStore, SkillsService, type SkillFiles } from '../../src/skills/index.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';
import { scriptedEmbedder } from '../helpers/embeddings.js';

let database: TestDatabase;
let skills: SkillsService;
let room: SearchRoom;
const embedder = scriptedEmbedder('scripted-1');
const logger = createLogger('silent');
let alice: Principal;
let bob: Principal;
let admin: Principal;
const toolsChanged = new EventEmitter();
let toolList: ReturnType<typeof toolDocument>[] = [];

async function user(name: string, isAdmin = false): Promise<Principal> {
  const [row] = await database.handle.db
    .insert(tables.users)
    .values({ email: `${name}@example.com`, username: name, passwordHash: 'x', isAdmin })
    .returning();
  return { userId: row!.id, isAdmin, via: 'session', scopes: ['api', 'mcp'] };
}

function pkg(name: string, description: string, body = `# ${name}\n`): SkillFiles {
  const md = `---\nname: ${name}\ndescription: ${JSON.stringify(description)}\n---\n${body}`;
  return {
    rootFolder: name,
    files: [{ path: 'SKILL.md', data: Buffer.from(md), executable: false }],
    skipped: [],
  };
}

/** Runs a change, waits until it queued its indexing job (sources enqueue asynchronously), and runs the jobs. */
async function indexAfter(change: () => unknown): Promise<number> {
  const queued = once(room.queue.events, 'enqueued');
  await change();
  await queued;
  return room.queue.drain();
}

const names = (r: { results: Array<{ name: string }> }) => r.results.map((h) => h.name);
const search = (p: Principal, text: string, limit = 10, callableTools?: string[]) =>
  room.service.search(p, {
    text,
    limit,
    kinds: callableTools ? ['skill', 'tool'] : ['skill'],
    callableTools,
  });

beforeAll(async () => {
  database = await createTestDatabase();
  skills = new SkillsService(database.handle.db, new DatabaseBlobStore());
  [alice, bob, admin] = [await user('alice'), await user('bob'), await user('searchadmin', true)];
  const tools = listSource(
    'tool',
    () => toolList,
    (listener) => {
      toolsChanged.on('change', listener);
      return () => toolsChanged.off('change', listener);
    },
  );
  room = await openSearch({
    db: database.handle,
    sources: [skillsSource(skills), tools],
    embedder,
    logger,
    worker: false,
  });
  await skills.create(alice, pkg('pdf-tools', 'Fill in and combine PDF forms.'), null);
  await skills.create(alice, pkg('sheet-helper', 'Analyse Excel spreadsheets and ledgers.'), null);
  await skills.create(alice, pkg('git-helper', 'Review pull requests in a GitHub repository.'), null);
  await skills.create(alice, pkg('photo-resizer', 'Resize photos and make thumbnails.'), null);
  for (let i = 0; i < 3; i++)
    await skills.create(
      alice,
      pkg(`invoice-archive-${i}`, 'Archive invoice PDF invoices, invoice by invoice.'),
      null,
    );
  // Bob's many strong matches must never fill Alice's page, nor hers his.
  for (let i = 0; i < 40; i++)
    await skills.create(bob, pkg(`bob-invoices-${i}`, 'Invoice invoice invoice PDF paperwork forms.'), null);
  toolList = [
    toolDocument({
      ownerId: alice.userId,
      name: 'weather__get_forecast',
      description: 'Get the forecast for a city.',
      inputSchema: { properties: { city: { description: 'City name' } } },
    }),
    toolDocument({
      ownerId: alice.userId,
      name: 'github__create_pull_request',
      description: 'Open a pull request on GitHub.',
    }),
  ];
  await indexAfter(() => toolsChanged.emit('change'));
});
afterAll(async () => {
  await room?.close();
  await database?.dispose();
});

describe('indexing', () => {
  it('indexes every uploaded skill and listed tool through the job queue, and embeds them', async () => {
    const status = await room.status();
    expect(status.documents).toBe(4 + 3 + 40 + 2);
    expect(status.embedded).toBe(status.documents);
    expect(status.jobs.some((j) => j.kind === 'search.embed' && j.status === 'done')).toBe(true);
    expect(embedder.texts.some((t) => t.includes('Fill in and combine PDF forms.'))).toBe(true);
  });

  it('re-indexes a skill when a new version is uploaded, and only that skill', async () => {
    const before = embedder.texts.length;
    const ran = await indexAfter(() =>
      skills.addVersion(alice, 'photo-resizer', pkg('photo-resizer', 'Resize pictures; plot charts.'), null),
    );
    expect(ran).toBeGreaterThan(0);
    expect(embedder.texts.slice(before)).toEqual([expect.stringContaining('plot charts')]);
    expect(names(await search(alice, 'diagram'))).toEqual(['photo-resizer']);
  });
});

describe('ranking', () => {
  it('finds by meaning what shares no word with the query, and says so', async () => {
    const answer = await search(alice, 'paperwork');
    expect(answer.mode).toBe('hybrid');
    // The PDF skills, all by meaning (they say "PDF", "forms", "invoice"; nobody says "paperwork").
    expect(names(answer).sort()).toEqual([
      'invoice-archive-0',
      'invoice-archive-1',
      'invoice-archive-2',
      'pdf-tools',
    ]);
    expect(answer.results.every((r) => r.match === 'semantic')).toBe(true);
  });

  it('ranks a skill found by words and meaning first, marked both', async () => {
    const answer = await search(alice, 'excel');
    expect(answer.results[0]).toMatchObject({ name: 'sheet-helper', match: 'both' });
  });

  it('keeps full-text matches the embeddings do not see', async () => {
    const both = await search(alice, 'charts');
    expect(both.results.map((r) => [r.name, r.match])).toEqual([['photo-resizer', 'both']]);
    // "combine" is in no concept of the scripted model: only the words find it.
    const wordOnly = await search(alice, 'combine');
    expect(wordOnly.results.map((r) => [r.name, r.match])).toEqual([['pdf-tools', 'text']]);
  });
});

describe('visibility', () => {
  it('fills the page with the caller’s own matches although another user has more and stronger ones', async () => {
    const answer = await search(alice, 'invoice paperwork', 4);
    expect(answer.results).toHaveLength(4);
    expect(names(answer).every((n) => !n.startsWith('bob-'))).toBe(true);
    const bobs = await search(bob, 'invoice', 25);
    expect(bobs.results).toHaveLength(25);
    expect(names(bobs).every((n) => n.startsWith('bob-'))).toBe(true);
  });

  it('applies a key restriction inside the query: a full page of allowed skills only', async () => {
    const restricted: Principal = { ...alice, restriction: { skills: ['pdf-tools', 'sheet-helper'] } };
    const answer = await search(restricted, 'invoice spreadsheet paperwork', 2);
    expect(names(answer).sort()).toEqual(['pdf-tools', 'sheet-helper']);
  });

  it('finds a shared skill for everybody, but not once hidden; disabled skills are not found', async () => {
    await indexAfter(() =>
      skills.create(admin, pkg('shared-calendar', 'Schedule meetings on the team calendar.'), null),
    );
    await skills.update(admin, 'shared-calendar', { shared: true }, null);
    expect(names(await search(bob, 'appointment'))).toEqual(['shared-calendar']);
    await skills.update(bob, 'shared-calendar', { hidden: true }, null);
    expect(names(await search(bob, 'appointment'))).toEqual([]);
    await skills.update(alice, 'git-helper', { enabled: false }, null);
    expect(names(await search(alice, 'github'))).toEqual([]);
    await skills.update(alice, 'git-helper', { enabled: true }, null);
  });

  it('finds tools only among the caller’s callable ones, by words or meaning', async () => {
    const all = ['weather__get_forecast', 'github__create_pull_request'];
    const rain = await search(alice, 'rain tomorrow', 5, all);
    expect(rain.results[0]).toMatchObject({ kind: 'tool', name: 'weather__get_forecast', match: 'semantic' });
    const both = await search(alice, 'pull request', 10, all);
    expect(names(both).sort()).toEqual(['git-helper', 'github__create_pull_request']);
    expect(names(await search(alice, 'forecast', 5, ['github__create_pull_request']))).toEqual([]);
    expect(names(await search(bob, 'forecast', 5, all))).toEqual([]);
  });

  it('removes a tool the source no longer lists', async () => {
    toolList = toolList.filter((t) => t.name !== 'weather__get_forecast');
    await indexAfter(() => toolsChanged.emit('change'));
    expect(names(await search(alice, 'forecast', 5, ['weather__get_forecast']))).toEqual([]);
  });
});

describe('vector paths', () => {
  it(`uses ${TEST_DB_KIND === 'pglite' ? 'pgvector (always there on PGlite)' : 'the portable path (no pgvector on this PostgreSQL)'}`, async () => {
    expect(room.service.vectorPath).toBe(TEST_DB_KIND === 'pglite' ? 'pgvector' : 'portable');
  });

  it('ranks the same with the portable path (bytea vectors, cosine in JS) as with the accelerator', async () => {
    const portable = new SearchService(database.handle.db, embedder, false);
    for (const q of ['paperwork', 'excel', 'invoice paperwork', 'diagram', 'pull request']) {
      const a = await room.service.search(alice, { text: q, limit: 5, kinds: ['skill'] });
      const b = await portable.search(alice, { text: q, limit: 5, kinds: ['skill'] });
      expect(names(b)).toEqual(names(a));
      expect(b.results.length).toBeGreaterThan(0);
    }
  });
});

describe('embedding model change', () => {
  it('re-embeds every document under the new model, and searches only vectors of the current one', async () => {
    await room.close();
    const next = scriptedEmbedder('scripted-2');
    const tools = listSource(
      'tool',
      () => toolList,
      () => () => undefined,
    );
    room = await openSearch({
      db: database.handle,
      sources: [skillsSource(skills), tools],
      embedder: next,
      logger,
      worker: false,
    });
    const before = await room.status();
    expect(before.embedded).toBe(0);
    await room.queue.drain();
    const after = await room.status();
    expect(after.embedding_model).toBe('scripted-2');
    expect(after.embedded).toBe(after.documents);
    expect(next.texts).toHaveLength(after.documents);
    expect((await search(alice, 'paperwork')).results[0]).toMatchObject({
      name: 'pdf-tools',
      match: 'semantic',
    });
  });
});

describe('without embeddings', () => {
  it('answers with full text alone and says so', async () => {
    const plain = new SearchService(database.handle.db, null, false);
    const answer = await plain.search(alice, { text: 'paperwork pdf', limit: 5, kinds: ['skill'] });
    expect(answer.mode).toBe('full_text');
    expect(answer.results[0]).toMatchObject({ name: 'pdf-tools', match: 'text' });
    expect((await plain.search(alice, { text: 'paperwork', limit: 5, kinds: ['skill'] })).results).toEqual(
      [],
    );
  });
});
