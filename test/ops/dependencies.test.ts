import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFromFile } from 'vite';
import { describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/config/index.js';
import { ROOT } from '../helpers/build.js';

/**
 * Dependency hygiene (issue 9, item 17): what was wrong once must not come back. A package nobody imports, type
 * packages installed for users, install scripts run on users' machines (a telemetry one among them), unpinned
 * versions, and the console's dev proxy aimed at a port the server does not use.
 */
interface Manifest {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
interface LockEntry {
  version?: string;
  dev?: boolean;
  hasInstallScript?: boolean;
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
const lockText = readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
const lock = JSON.parse(lockText) as { packages: Record<string, LockEntry> };

/**
 * Runtime packages whose install script users' `npm install` may run, each with why it is needed. None today:
 * argon2 and PGlite ship prebuilt binaries or WebAssembly through optional dependencies, without scripts.
 */
const INSTALL_SCRIPTS_ALLOWED: Record<string, string> = {};

describe('dependencies', () => {
  it('lists no package the code never imports (@modelcontextprotocol/node)', () => {
    expect(Object.keys(manifest.dependencies)).not.toContain('@modelcontextprotocol/node');
    expect(Object.keys(manifest.devDependencies)).not.toContain('@modelcontextprotocol/node');
  });

  it('keeps type packages out of the runtime dependencies', () => {
    expect(Object.keys(manifest.dependencies).filter((n) => n.startsWith('@types/'))).toEqual([]);
  });

  it('pins every version exactly (no ranges)', () => {
    const exact = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
    const loose = Object.entries({ ...manifest.dependencies, ...manifest.devDependencies }).filter(
      ([, version]) => !exact.test(version),
    );
    expect(loose).toEqual([]);
  });

  it('installs no runtime package with an install script, and nothing from @scarf/scarf', () => {
    const scripted = Object.entries(lock.packages).filter(([, entry]) => entry.hasInstallScript);
    // The lockfile does record scripts (esbuild's, a dev tool), so an empty runtime list below means something.
    expect(scripted.map(([key]) => key)).toContain('node_modules/esbuild');
    const runtime = scripted
      .filter(([, entry]) => !entry.dev)
      .map(([key]) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .filter((name) => !(name in INSTALL_SCRIPTS_ALLOWED));
    expect(runtime).toEqual([]);
    expect(lockText).not.toContain('@scarf/scarf');
  });

  it("points the console's dev proxy at the server's default port", async () => {
    const previous = process.env.SKILLPORT_DEV_API;
    delete process.env.SKILLPORT_DEV_API;
    try {
      const loaded = await loadConfigFromFile(
        { command: 'serve', mode: 'development' },
        path.join(ROOT, 'web/vite.config.ts'),
        ROOT,
        'silent',
      );
      const proxy = loaded!.config.server!.proxy as Record<string, { target: string }>;
      const port = String(parseEnv({}).PORT);
      expect(Object.keys(proxy).length).toBeGreaterThan(0);
      for (const [prefix, { target }] of Object.entries(proxy)) {
        expect({ prefix, port: new URL(target).port }).toEqual({ prefix, port });
      }
    } finally {
      if (previous !== undefined) process.env.SKILLPORT_DEV_API = previous;
    }
  });
});
