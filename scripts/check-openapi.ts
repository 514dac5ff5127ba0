// Lints the served OpenAPI document with Redocly: takes /api/openapi.json as the server serves it
// (served-openapi.ts) and runs `redocly lint` on it with the repository's redocly.yaml (the recommended rules,
// warnings counted as errors) and .redocly.lint-ignore.yaml (the justified exceptions). Then checks that the
// console's generated API types (generate-api-types.ts) are those of the same document, built once for both.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkApiTypes } from './generate-api-types.js';
import { servedOpenApiDocument } from './served-openapi.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const dir = mkdtempSync(path.join(tmpdir(), 'skillport-openapi-'));
try {
  const document = await servedOpenApiDocument();
  writeFileSync(path.join(dir, 'openapi.json'), document);
  // The ignore file names the document by a path relative to itself, so the two sit side by side.
  for (const file of ['redocly.yaml', '.redocly.lint-ignore.yaml']) {
    copyFileSync(path.join(ROOT, file), path.join(dir, file));
  }
  const lint = spawnSync(path.join(ROOT, 'node_modules/.bin/redocly'), ['lint', 'openapi.json'], {
    cwd: dir,
    stdio: 'inherit',
  });
  const typesCurrent = await checkApiTypes(document);
  process.exitCode = lint.status === 0 && typesCurrent ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
