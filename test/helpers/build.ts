import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The bundled CLI (scripts/build.mjs), which `bin/skillport.js` loads. */
const BUNDLE = path.join(ROOT, 'dist/cli/main.js');

/** True when the bundle is missing or older than some src/**.ts or the build script itself. */
function distIsStale(): boolean {
  if (!existsSync(BUNDLE)) return true;
  const built = statSync(BUNDLE).mtimeMs;
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
    );
  const inputs = [...walk(path.join(ROOT, 'src')), path.join(ROOT, 'scripts/build.mjs')];
  return inputs.some((file) => statSync(file).mtimeMs > built);
}

/**
 * Makes sure dist/ (and, with `console`, web/dist/) are built from the current sources, as `npm test` does before
 * vitest; a single test file run on its own builds what it needs. Only the bundle is built here (no type-check):
 * type errors elsewhere in the tree must not stop the tests of the CLI.
 */
export function ensureBuilt(opts: { console?: boolean } = {}): void {
  if (distIsStale()) {
    spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'ignore' });
  }
  if (opts.console && !existsSync(path.join(ROOT, 'web/dist/index.html'))) {
    spawnSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'ignore' });
  }
  if (!existsSync(BUNDLE)) throw new Error('dist/ could not be built');
}
