// Writes the console's API types (web/src/api/schema.gen.ts) from the OpenAPI document the server serves
// (served-openapi.ts), with openapi-typescript, so the console's view of the REST API cannot drift from the
// server's zod schemas. `npm run api-types` regenerates the file; `checkApiTypes` (run by check-openapi.ts in
// `npm test`, on the document it lints) writes nothing and fails when the committed file differs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import prettier from 'prettier';
import { servedOpenApiDocument } from './served-openapi.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = path.join(ROOT, 'web/src/api/schema.gen.ts');
const RELATIVE_TARGET = path.relative(ROOT, TARGET);

const HEADER = `// Generated from the server's OpenAPI document (/api/openapi.json) by scripts/generate-api-types.ts with
// openapi-typescript. Do not edit: change the server's zod schemas, then run \`npm run api-types\`.
// \`npm test\` fails while this file differs from what the served document generates.

`;

async function generate(document: string): Promise<string> {
  // Validated with openapi-typescript's own minimal Redocly rules: the repository's redocly.yaml is for the lint
  // (check-openapi.ts), which holds the document to more than generating types needs.
  const ast = await openapiTS(JSON.parse(document), { silent: true });
  // Formatted like the rest of the repository, so that `prettier --check .` passes on the committed file.
  const options = await prettier.resolveConfig(TARGET);
  return prettier.format(HEADER + astToString(ast), { ...options, filepath: TARGET });
}

/** True when the committed types are what `document` generates; otherwise prints the difference and what to do. */
export async function checkApiTypes(document: string): Promise<boolean> {
  const generated = await generate(document);
  let committed = '';
  try {
    committed = readFileSync(TARGET, 'utf8');
  } catch {
    /* missing: reported as stale below */
  }
  if (committed === generated) {
    console.log(`${RELATIVE_TARGET} matches the served OpenAPI document`);
    return true;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'skillport-api-types-'));
  try {
    const fresh = path.join(dir, 'schema.gen.ts');
    writeFileSync(fresh, generated);
    const diff = spawnSync('diff', ['-u', TARGET, fresh], { encoding: 'utf8' }).stdout ?? '';
    console.error(diff.split('\n').slice(0, 60).join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.error(
    `${RELATIVE_TARGET} is stale: the server's OpenAPI document has changed since it was generated.\n` +
      'Run `npm run api-types` and commit the result.',
  );
  return false;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(TARGET, await generate(await servedOpenApiDocument()));
  console.log(`wrote ${RELATIVE_TARGET}`);
}
