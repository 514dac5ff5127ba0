// The OpenAPI document exactly as the server serves it at /api/openapi.json, built in-process on an in-memory
// PGlite (no port, no server) in a throwaway data dir. Shared by the scripts that lint it (check-openapi.ts) and
// generate the console's API types from it (generate-api-types.ts), so both see the same document.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { openDatabase } from '../src/db/index.js';
import { createHttpApp } from '../src/server/http-app.js';
import { createContext } from '../src/server/context.js';

/** The served document's JSON text. */
export async function servedOpenApiDocument(): Promise<string> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'skillport-openapi-data-'));
  try {
    const config = loadConfig({
      DATA_DIR: dataDir,
      SECRET_KEY: 'k'.repeat(64),
      COMMANDS_ENABLED: 'false',
      LOG_LEVEL: 'silent',
    });
    const database = await openDatabase({});
    const ctx = await createContext(config, { database });
    try {
      const res = await createHttpApp(ctx).app.request('/api/openapi.json');
      if (res.status !== 200) throw new Error(`/api/openapi.json answered ${res.status}`);
      return await res.text();
    } finally {
      await ctx.close();
      await database.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
