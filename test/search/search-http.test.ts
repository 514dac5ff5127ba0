/**
 * Search end to end on a real server: embeddings from a local OpenAI-compatible `/v1/embeddings` (the scripted
 * model behind the real wire format, called through the AI SDK), skills uploaded over HTTP and indexed by the
 * background worker, `/api/v1/search` with the kind of match, the admin status, `/ready`, the `search_tools`
 * meta-tool over the official MCP client, and a compact-mode key that reaches every tool through `call_tool`
 * and nothing more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, registerUser } from '../helpers/api.js';
import { TEST_DB_KIND } from '../helpers/db.js';
import { startEmbeddingsServer, type EmbeddingsServer } from '../helpers/embeddings.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { skillZip } from '../helpers/zips.js';

const EMBEDDINGS_KEY = 'sk-embeddings-test-secret-0123456789';
let embeddings: EmbeddingsServer;
let t: TestServer;
let alice: Api;
let bob: Api;

async function key(restriction: Record<string, unknown> | null): Promise<string> {
  const res = await alice.post('/api/v1/api-keys', { name: 'k', can_use_mcp: true, restriction });
  expect(res.status).toBe(201);
  return res.body.token;
}

beforeAll(async () => {
  embeddings = await startEmbeddingsServer();
  t = await startTestServer({
    EMBEDDINGS_BASE_URL: embeddings.url,
    EMBEDDINGS_MODEL: 'scripted-http',
    EMBEDDINGS_API_KEY: EMBEDDINGS_KEY,
  });
  alice = (await registerUser(new Api(t.baseUrl), 'searchalice')).api; // the first user: an admin
  bob = (await registerUser(new Api(t.baseUrl), 'searchbob')).api;
  const uploads: Array<[string, string]> = [
    ['pdf-tools', 'Fill in and combine PDF forms.'],
    ['sheet-helper', 'Analyse Excel spreadsheets.'],
    ['git-helper', 'Review pull requests in a GitHub repository.'],
  ];
  for (const [name, description] of uploads)
    expect((await alice.post('/api/v1/skills', await skillZip(name, description))).status).toBe(201);
  await until('the uploads to be indexed and embedded', async () => {
    const status = (await alice.get('/api/v1/admin/search')).body;
    return status.documents === 3 && status.embedded === 3 && status;
  });
});
afterAll(async () => {
  await t?.close();
  await embeddings?.close();
});

describe('REST', () => {
  it('reports hybrid search in /ready and the index in the admin status', async () => {
    const ready = await new Api(t.baseUrl).get('/ready');
    expect(ready.body).toMatchObject({ status: 'ready', search: 'hybrid' });
    expect(ready.body.warnings.join(' ')).not.toMatch(/full-text only/);
    const status = await alice.get('/api/v1/admin/search');
    expect(status.body).toMatchObject({
      mode: 'hybrid',
      embedding_model: 'scripted-http',
      vector_path: TEST_DB_KIND === 'pglite' ? 'pgvector' : 'portable',
    });
    expect(status.body.jobs.map((j: { kind: string }) => j.kind)).toContain('search.embed');
    expect((await bob.get('/api/v1/admin/search')).status).toBe(403);
  });

  it('called the endpoint in the OpenAI format with the configured model and key, which no log shows', () => {
    expect(embeddings.requests.length).toBeGreaterThan(0);
    expect(embeddings.requests[0]).toMatchObject({
      model: 'scripted-http',
      authorization: `Bearer ${EMBEDDINGS_KEY}`,
    });
    expect(t.logs.join('\n')).not.toContain(EMBEDDINGS_KEY);
  });

  it('answers with the kind of match, for the caller’s skills only', async () => {
    const res = await alice.get('/api/v1/search?q=paperwork');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      mode: 'hybrid',
      results: [{ kind: 'skill', name: 'pdf-tools', match: 'semantic' }],
    });
    const both = await alice.get('/api/v1/search?q=excel&kind=skill&limit=1');
    expect(both.body.results).toEqual([
      expect.objectContaining({
        name: 'sheet-helper',
        match: 'both',
        description: 'Analyse Excel spreadsheets.',
      }),
    ]);
    expect((await bob.get('/api/v1/search?q=paperwork')).body.results).toEqual([]);
    expect((await alice.get('/api/v1/search?q=')).status).toBe(400);
    expect((await alice.get('/api/v1/search?q=x&limit=500')).status).toBe(400);
  });

  it('re-indexes everything on an admin’s request, in the background, and audits it', async () => {
    expect((await bob.post('/api/v1/admin/search/reindex')).status).toBe(403);
    const before = embeddings.requests.reduce((n, r) => n + r.inputs, 0);
    expect((await alice.post('/api/v1/admin/search/reindex')).status).toBe(202);
    await until('the re-index to finish', async () => {
      const status = (await alice.get('/api/v1/admin/search')).body;
      const embedded = embeddings.requests.reduce((n, r) => n + r.inputs, 0) - before;
      return status.embedded === 3 && embedded >= 3;
    });
    const audit = await alice.get('/api/v1/audit?limit=20');
    expect(audit.body.items.map((e: { action: string }) => e.action)).toContain('search.reindex');
  });

  it('falls back to full text when the embeddings endpoint fails for a query, and says so', async () => {
    embeddings.failNext(1);
    const res = await alice.get('/api/v1/search?q=pdf%20forms');
    expect(res.body.mode).toBe('full_text');
    expect(res.body.results[0]).toMatchObject({ name: 'pdf-tools', match: 'text' });
  });
});

describe('MCP', () => {
  it('search_tools finds skills by meaning and says how to call them', async () => {
    const client = await connectMcp(t.baseUrl, await key(null));
    try {
      expect((await client.listTools()).tools.map((x) => x.name)).toContain('search_tools');
      const text = resultText(
        await client.callTool({ name: 'search_tools', arguments: { query: 'paperwork' } }),
      );
      expect(text).toContain('(hybrid search)');
      expect(text).toContain(
        '- skill pdf-tools (semantic match): Fill in and combine PDF forms. → call load_skill',
      );
    } finally {
      await client.close();
    }
  });

  it('a compact-mode key is listed only the meta-tools and calls the rest through call_tool', async () => {
    const client = await connectMcp(t.baseUrl, await key({ compact_tools: true }));
    try {
      expect((await client.listTools()).tools.map((x) => x.name).sort()).toEqual([
        'call_tool',
        'search_tools',
      ]);
      const found = resultText(
        await client.callTool({ name: 'search_tools', arguments: { query: 'github' } }),
      );
      expect(found).toContain('skill git-helper');
      expect(found).toContain('call call_tool load_skill');
      const loaded = await client.callTool({
        name: 'call_tool',
        arguments: { name: 'load_skill', arguments: { skill_name: 'git-helper' } },
      });
      expect(loaded.isError).toBeFalsy();
      expect(resultText(loaded)).toContain('Instructions for git-helper');
      const nested = await client.callTool({
        name: 'call_tool',
        arguments: { name: 'call_tool', arguments: {} },
      });
      expect(nested.isError).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('compact mode grants nothing: a skill restriction still holds through search_tools and call_tool', async () => {
    const client = await connectMcp(t.baseUrl, await key({ compact_tools: true, skills: ['sheet-helper'] }));
    try {
      const found = resultText(
        await client.callTool({ name: 'search_tools', arguments: { query: 'paperwork pdf' } }),
      );
      expect(found).not.toContain('pdf-tools');
      const refused = await client.callTool({
        name: 'call_tool',
        arguments: { name: 'load_skill', arguments: { skill_name: 'pdf-tools' } },
      });
      expect(refused.isError).toBe(true);
      expect(resultText(refused)).toMatch(/^No skill named "pdf-tools"/);
      const allowed = await client.callTool({
        name: 'call_tool',
        arguments: { name: 'load_skill', arguments: { skill_name: 'sheet-helper' } },
      });
      expect(resultText(allowed)).toContain('Instructions for sheet-helper');
    } finally {
      await client.close();
    }
  });
});

describe('without an embeddings provider', () => {
  it('is full text only, and /ready says so', async () => {
    const plain = await startTestServer();
    try {
      const ready = await new Api(plain.baseUrl).get('/ready');
      expect(ready.body.search).toBe('full_text');
      expect(ready.body.warnings).toContainEqual(expect.stringMatching(/^Search is full-text only/));
      const { api } = await registerUser(new Api(plain.baseUrl), 'plainsearch');
      await api.post('/api/v1/skills', await skillZip('pdf-tools', 'Fill in PDF forms.'));
      const res = await api.get('/api/v1/search?q=pdf');
      expect(res.body).toMatchObject({ mode: 'full_text', results: [{ name: 'pdf-tools', match: 'text' }] });
    } finally {
      await plain.close();
    }
  });
});
