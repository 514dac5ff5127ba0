#!/usr/bin/env node
// The production build of the CLI and the server: src/cli/main.ts bundled by esbuild into dist/cli/main.js plus
// the chunks its lazy imports need (one per `await import()` boundary), instead of tsc's one file per module.
// Node 20's ESM loader resolves, reads and compiles every module separately: the server's ≈500 modules (ours,
// zod, drizzle, jose, hono, the MCP SDK) took most of its start (bench/README.md, "Embedded database"); a few
// files load in a fraction of that time, and minified sources are smaller in memory (V8 keeps them).
//
// Every output lands in dist/cli/: modules that find the package's files from their own location
// (`import.meta.url` + '../..': package.json, migrations/, web/dist/) keep working because every chunk sits two
// levels below the package root, as each compiled module did. Kept out of the bundle, loaded from node_modules:
// PGlite and pgvector (they load their .wasm, .data and extension files next to their own modules), the native
// argon2 binding, and what only some configurations load, lazily (the PostgreSQL driver, ioredis, the S3 client,
// oidc-provider, the AI SDK). Tests run the sources through tsx and never need this build, except the ones that
// start the real CLI (test/helpers/build.ts runs this script when src/ is newer).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'dist');

rmSync(OUT, { recursive: true, force: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: path.join(OUT, 'cli'),
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // Whitespace and syntax only: identifiers keep their names, so logged stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  external: [
    '@electric-sql/pglite',
    '@electric-sql/pglite-pgvector',
    '@node-rs/argon2',
    'pg',
    'ioredis',
    'minio',
    'oidc-provider',
    'ai',
    '@ai-sdk/*',
  ],
  // CommonJS dependencies bundled into ESM (pino, prom-client, yaml, busboy, …) call require() for Node's
  // built-in modules.
  banner: {
    js: "import { createRequire as __skillportRequire } from 'node:module';const require = __skillportRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
