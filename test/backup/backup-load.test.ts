import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBackup, restoreBackup } from '../../src/backup/index.js';
import { Api, createApiToken, registerUser } from '../helpers/api.js';
import { createTestDatabase } from '../helpers/db.js';
import { connectMcp, resultText } from '../helpers/mcp.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectIntact, uploadVersion, type Uploaded } from './fixtures.js';
import { until } from '../helpers/until.js';

let source: TestServer;
let out: string;

beforeAll(async () => {
  source = await startTestServer();
  out = mkdtempSync(path.join(tmpdir(), 'skillport-backup-load-'));
});
afterAll(async () => {
  await source.close();
  rmSync(out, { recursive: true, force: true });
});

it('a backup taken under uploads and MCP calls holds every version acknowledged before it began, intact', async () => {
  const session = (await registerUser(new Api(source.baseUrl), 'loaduser')).api;
  const token = await createApiToken(session, ['api', 'mcp']);
  const api = new Api(source.baseUrl, token);
  const acked: Uploaded[] = [];
  let stop = false;
  let mcpCalls = 0;
  const uploader = async (w: number) => {
    for (let n = 0; !stop; n++) acked.push(await uploadVersion(api, `load-${w}-${n % 3}`, 1000 + n));
  };
  const mcpCaller = async () => {
    const client = await connectMcp(source.baseUrl, token);
    try {
      while (!stop) {
        const listed = await client.callTool({ name: 'load_skill_metadata', arguments: {} });
        expect(listed.isError ?? false).toBe(false);
        mcpCalls++;
      }
    } finally {
      await client.close();
    }
  };
  const load = Promise.all([uploader(0), uploader(1), uploader(2), mcpCaller()]);
  await until('load to start', async () => acked.length >= 6 && mcpCalls >= 3, 60_000);

  const before = [...acked];
  const { file, manifest } = await createBackup({
    database: source.server.ctx.db,
    databaseUrl: source.server.ctx.config.DATABASE_URL,
    outDir: out,
    version: 'test',
  });
  const countAtEnd = acked.length;
  await until('uploads after the backup', async () => acked.length >= countAtEnd + 3, 60_000);
  stop = true;
  await load;
  expect(manifest.counts.skill_versions).toBeGreaterThanOrEqual(before.length);

  const target = await createTestDatabase();
  try {
    await restoreBackup({ file, database: target.handle });
    const restored = await startTestServer({ SECRET_KEY: source.secretKey }, { sharedDatabase: target });
    try {
      const reader = new Api(restored.baseUrl, token);
      await expectIntact(reader, before);
      // Versions acknowledged later may or may not be in the backup; those that are must be whole too.
      const later: Uploaded[] = [];
      for (const v of acked.slice(before.length)) {
        const res = await reader.get(`/api/v1/skills/${v.name}/versions`);
        const numbers = res.status === 200 ? res.body.items.map((x: any) => x.number) : [];
        if (numbers.includes(v.version)) later.push(v);
      }
      if (later.length) await expectIntact(reader, later);
      expect(before.length + later.length).toBe(manifest.counts.skill_versions);
      const mcp = await connectMcp(restored.baseUrl, token);
      expect(resultText(await mcp.callTool({ name: 'load_skill_metadata', arguments: {} }))).toContain(
        'load-0-0',
      );
      await mcp.close();
    } finally {
      await restored.close();
    }
  } finally {
    await target.dispose().catch(() => undefined);
  }
}, 180_000);
