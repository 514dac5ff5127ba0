import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** True when some src/**.ts is newer than its compiled dist/**.js (or has none). */
function distIsStale(): boolean {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
    );
  for (const file of walk(path.join(ROOT, 'src'))) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    const out = path.join(ROOT, 'dist', path.relative(path.join(ROOT, 'src'), file)).replace(/\.ts$/, '.js');
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(file).mtimeMs) return true;
  }
  return false;
}

/**
 * Makes sure dist/ (and, with `console`, web/dist/) are built from the current sources, as `npm test` does before
 * vitest; a single test file run on its own builds what it needs. Type errors elsewhere in the tree must not stop
 * the build of the CLI (tsc still emits).
 */
export function ensureBuilt(opts: { console?: boolean } = {}): void {
  if (distIsStale()) {
    spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
        stdio: 'ignore',
      },
    );
  }
  if (opts.console && !existsSync(path.join(ROOT, 'web/dist/index.html'))) {
    spawnSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'ignore' });
  }
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ could not be built');
}
