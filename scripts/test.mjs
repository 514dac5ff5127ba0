#!/usr/bin/env node
// The whole test suite: formatting, lint, type-check, the OpenAPI lint, the freshness of the console's generated
// API types, then every vitest test twice — on the embedded PGlite database (measuring line coverage against the
// thresholds in vitest.config.ts) and on the machine's PostgreSQL (each test file creates and drops its own
// database). Ends with one line "N passed, N failed, N skipped" that CI reads. Extra arguments are passed to
// vitest (e.g. a file filter); a filtered run measures no coverage, since its thresholds are for the whole suite.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const extra = process.argv.slice(2);
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

function step(name, cmd, args, env = {}) {
  console.log(`\n── ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status === 0;
}

function check(name, cmd, args) {
  if (step(name, cmd, args)) totals.passed += 1;
  else {
    totals.failed += 1;
    failures.push(name);
  }
}

function vitest(db, { coverage = false } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'skillport-vitest-'));
  const out = path.join(dir, 'report.json');
  const ok = step(
    `tests on ${db}${coverage ? ' with coverage' : ''}`,
    'npx',
    [
      'vitest',
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${out}`,
      ...(coverage ? ['--coverage'] : []),
      ...extra,
    ],
    {
      SKILLPORT_TEST_DB: db,
    },
  );
  let report;
  try {
    report = JSON.parse(readFileSync(out, 'utf8'));
  } catch {
    totals.failed += 1;
    failures.push(`tests on ${db} (no report)`);
    return;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A file that fails to load has no test results of its own: count it as one failure.
  const brokenFiles = report.testResults.filter(
    (f) => f.status === 'failed' && f.assertionResults.length === 0,
  ).length;
  totals.passed += report.numPassedTests;
  totals.failed += report.numFailedTests + brokenFiles;
  totals.skipped += report.numPendingTests + report.numTodoTests;
  if (report.numFailedTests || brokenFiles) failures.push(`tests on ${db}`);
  else if (!ok) {
    // Every test passed but vitest failed: coverage below its thresholds (vitest printed which), or an error
    // outside any test. Either counts as one failure.
    totals.failed += 1;
    failures.push(`tests on ${db}: ${coverage ? 'coverage thresholds or ' : ''}an error outside the tests`);
  }
}

// The MCP Inspector CLI needs Node 22; it lives in its own package so Node 22 stays off this one's PATH.
if (!existsSync('tools/inspector/node_modules/@modelcontextprotocol/inspector')) {
  step('install the MCP Inspector', 'npm', ['ci', '--prefix', 'tools/inspector', '--no-audit', '--no-fund']);
}

if (!extra.length) {
  check('format', 'npx', ['prettier', '--check', '.']);
  check('lint', 'npx', ['eslint', '.']);
  // The rules between rooms (ARCHITECTURE.md rule 6): by layer, and only through each room's surface.
  check('dependency rules', 'npx', [
    'depcruise',
    'src',
    '--config',
    '.dependency-cruiser.cjs',
    '--output-type',
    'err',
  ]);
  check('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
  check('typecheck web', 'npx', ['tsc', '-p', 'web/tsconfig.json', '--noEmit']);
  // Also fails while the console's generated API types (committed) are stale against the served document.
  check('openapi lint and api types', 'npx', ['tsx', 'scripts/check-openapi.ts']);
  check('build', 'npm', ['run', 'build']);
}
vitest('pglite', { coverage: !extra.length });
vitest('postgres');

if (failures.length) console.log(`\nFailed: ${failures.join(', ')}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed ? 1 : 0);
