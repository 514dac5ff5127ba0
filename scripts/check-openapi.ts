// Lints the served OpenAPI document with Redocly: builds the app in-process on an in-memory PGlite (no port, no
// server), takes /api/openapi.json and runs `redocly lint` on it with the repository's redocly.yaml (the
// recommended rules, warnings counted as errors) and .redocly.lint-ignore.yaml (the justified exceptions).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import { openDatabase } from '../src/db/index.js';
import { createHttpApp } from '../src/server/http-app.js';
import { createContext } from '../src/server/context.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function servedDocument(dataDir: string): Promise<string> {
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
}

const dir = mkdtempSync(path.join(tmpdir(), 'skillport-openapi-'));
try {
  writeFileSync(path.join(dir, 'openapi.json'), await servedDocument(path.join(dir, 'data')));
  // The ignore file names the document by a path relative to itself, so the two sit side by side.
  for (const file of ['redocly.yaml', '.redocly.lint-ignore.yaml']) {
    copyFileSync(path.join(ROOT, file), path.join(dir, file));
  }
  const lint = spawnSync(path.join(ROOT, 'node_modules/.bin/redocly'), ['lint', 'openapi.json'], {
    cwd: dir,
    stdio: 'inherit',
  });
  process.exitCode = lint.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
