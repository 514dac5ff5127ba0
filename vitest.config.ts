import { defineConfig } from 'vitest/config';

/**
 * The core business logic: the services of the domain rooms (accounts, skills with its archive reader, audit,
 * admin settings): everything in them but their HTTP routes and re-exporting index files. It carries a stricter
 * line-coverage threshold than the rest (see README.md, "Tests").
 */
export const CORE_LOGIC = 'src/{accounts,skills,audit,admin}/**/!(routes|index).ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // Off unless asked for (`--coverage`): scripts/test.mjs turns it on for the PGlite pass.
    coverage: {
      provider: 'v8',
      // The server. The console (web/) runs in Chromium in its tests, where V8 coverage in Node cannot see it.
      include: ['src/**/*.ts'],
      exclude: ['web/**'],
      reporter: ['text-summary', ['text', { skipFull: true }], 'json-summary'],
      reportsDirectory: 'coverage',
      // Report (and check the thresholds) even when a test fails, so a run always says where coverage stands.
      reportOnFailure: true,
      thresholds: { lines: 80, [CORE_LOGIC]: { lines: 90 } },
    },
  },
});
