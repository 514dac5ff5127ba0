import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createContext, type AppContext } from '../../src/server/context.js';
import type { Principal } from '../../src/shared/principal.js';
import { rotateSecrets } from '../../src/shared/secret-rotation.js';
import { SecretBox } from '../../src/shared/secrets.js';
import { ensureBuilt } from '../helpers/build.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, TEST_DB_KIND, type TestDatabase } from '../helpers/db.js';

/**
 * `skillport secrets rotate --old-key …`: after SECRET_KEY changed, every sealed secret still under the old key
 * opens again, with the same value, and nothing prints a secret.
 */
const OLD_KEY = randomBytes(32).toString('hex');
const NEW_KEY = randomBytes(32).toString('hex');
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const PROVIDER_KEY = `sk-${randomBytes(12).toString('hex')}`;
let db: TestDatabase;
const dataDir = mkdtempSync(path.join(tmpdir(), 'skillport-rotate-'));

const context = (key: string, database?: TestDatabase) =>
  createContext(
    loadConfig({
      DATA_DIR: dataDir,
      SECRET_KEY: key,
      LOG_LEVEL: 'silent',
      ...(db?.url ? { DATABASE_URL: db.url } : {}),
    }),
    database ? { database: database.handle } : {},
  );

let serverId: string;
let providerId: string;
let ownerId: string;
beforeAll(async () => {
  db = await createTestDatabase();
  const ctx: AppContext = await context(OLD_KEY, db);
  const user = await ctx.accounts.createUser(
    { email: 'rot@example.com', username: 'rot', password: 'a-long-enough-password' },
    { isAdmin: true, actorId: null, ip: null, publicSignup: false },
  );
  const admin: Principal = {
    userId: user.id,
    isAdmin: true,
    via: 'session',
    scopes: ['api', 'mcp', 'assistants'],
  };
  const created = await ctx.upstreams.create(
    admin,
    {
      transport: 'streamable-http',
      name: 'rot',
      url: 'https://127.0.0.1:9/mcp',
      headers: { Authorization: TOKEN },
    },
    null,
  );
  serverId = created.id;
  ownerId = user.id;
  const provider = await ctx.providers.create(
    admin,
    {
      name: 'rot',
      kind: 'openai-compatible',
      base_url: 'https://llm.example.com/v1',
      api_key: PROVIDER_KEY,
      global: true,
    },
    null,
  );
  providerId = provider.id;
  await ctx.close();
});
afterAll(async () => {
  await db?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

it('re-seals every kept secret under the new key (the secret opens again, unchanged)', async () => {
  const before = await context(NEW_KEY, db);
  await expect(before.upstreams.runnable(serverId)).rejects.toThrow(/another SECRET_KEY/);
  await expect(before.providers.connectionFor(ownerId, providerId)).rejects.toThrow(/another SECRET_KEY/);
  await before.close();

  if (TEST_DB_KIND === 'postgres') {
    // The real command, as an operator runs it (PGlite's data dir cannot be shared with this process).
    ensureBuilt();
    const res = await runCli(['secrets', 'rotate', '--old-key-stdin', '--data-dir', dataDir], {
      cwd: dataDir,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url!, SECRET_KEY: NEW_KEY, LOG_LEVEL: 'silent' },
      input: OLD_KEY,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('mcp_servers: 1 secrets re-sealed');
    expect(res.stdout).toContain('model_providers: 1 secrets re-sealed');
    expect(res.stdout + res.stderr).not.toContain(TOKEN);
    expect(res.stdout + res.stderr).not.toContain(PROVIDER_KEY);
  } else {
    const ctx = await context(NEW_KEY, db);
    expect(await rotateSecrets(ctx.secretHolders, new SecretBox(OLD_KEY), ctx.secrets)).toEqual([
      { name: 'mcp_servers', resealed: 1 },
      { name: 'model_providers', resealed: 1 },
    ]);
    await ctx.close();
  }
  const after = await context(NEW_KEY, db);
  expect((await after.upstreams.runnable(serverId))?.headers).toEqual({ Authorization: TOKEN });
  expect((await after.providers.connectionFor(ownerId, providerId)).apiKey).toBe(PROVIDER_KEY);
  // A second run has nothing left to do.
  expect(await rotateSecrets(after.secretHolders, new SecretBox(OLD_KEY), after.secrets)).toEqual([
    { name: 'mcp_servers', resealed: 0 },
    { name: 'model_providers', resealed: 0 },
  ]);
  await after.close();
}, 120_000);
