import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Hono } from 'hono';
import type { AppEnv } from '../http/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONSOLE_DIST = path.join(ROOT, 'web', 'dist');
// Resolved like an import: the package may be hoisted above ours (a local install) or nested (a global one).
const SWAGGER_DIST = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Paths the console must never shadow: they belong to the API, MCP and operations endpoints. */
const SERVER_PATHS = /^\/(api|mcp|sse|messages|metrics|health|ready)(\/|$)/;

/**
 * Serves the built single-page console at `/` (with an index.html fallback for client-side routes).
 * Returns false when the console was not built; the server then runs API and MCP only.
 */
export function mountConsole(app: Hono<AppEnv>, distDir = CONSOLE_DIST): boolean {
  const indexFile = path.join(distDir, 'index.html');
  if (!existsSync(indexFile)) return false;
  const indexHtml = readFileSync(indexFile, 'utf8');
  app.use('/assets/*', async (c, next) => {
    await next();
    if (c.res.status === 200) c.header('Cache-Control', 'public, max-age=31536000, immutable');
  });
  app.use('*', async (c, next) => {
    if (SERVER_PATHS.test(c.req.path) || !['GET', 'HEAD'].includes(c.req.method)) return next();
    return serveStatic<AppEnv>({ root: distDir })(c, next);
  });
  app.get('*', (c, next) => {
    if (SERVER_PATHS.test(c.req.path)) return next();
    c.header('Cache-Control', 'no-cache');
    return c.html(indexHtml);
  });
  return true;
}

/** Swagger UI from the locally installed swagger-ui-dist (no CDN: self-hosted servers may be offline). */
export function mountApiDocs(app: Hono<AppEnv>, specUrl: string): void {
  app.use(
    '/api/docs/assets/*',
    serveStatic<AppEnv>({
      root: SWAGGER_DIST,
      rewriteRequestPath: (p) => p.replace(/^\/api\/docs\/assets/, ''),
    }),
  );
  app.get('/api/docs', (c) =>
    c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Skillport API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/assets/docs-init.js"></script></body></html>`),
  );
  // Inline scripts are blocked by the content security policy, so the initialiser is its own file.
  app.get('/api/docs/assets/docs-init.js', (c) =>
    c.body(`window.ui = SwaggerUIBundle({ url: ${JSON.stringify(specUrl)}, dom_id: '#swagger-ui' });`, 200, {
      'Content-Type': 'text/javascript; charset=utf-8',
    }),
  );
}
