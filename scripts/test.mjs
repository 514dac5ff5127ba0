#!/usr/bin/env node
// The whole test suite: formatting, lint, type-check, then every vitest test twice — on the embedded PGlite
// database and on the machine's PostgreSQL (each test file creates and drops its own database). Ends with one
// line "N passed, N failed, N skipped" that CI reads. Extra arguments are passed to vitest (e.g. a file filter).
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

function vitest(db) {
  const dir = mkdtempSync(path.join(tmpdir(), 'skillport-vitest-'));
  const out = path.join(dir, 'report.json');
  const ok = step(
    `tests on ${db}`,
    'npx',
    ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...extra],
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
  if (!ok || report.numFailedTests || brokenFiles) failures.push(`tests on ${db}`);
}

// The MCP Inspector CLI needs Node 22; it lives in its own package so Node 22 stays off this one's PATH.
if (!existsSync('tools/inspector/node_modules/@modelcontextprotocol/inspector')) {
  step('install the MCP Inspector', 'npm', ['ci', '--prefix', 'tools/inspector', '--no-audit', '--no-fund']);
}

if (!extra.length) {
  check('format', 'npx', ['prettier', '--check', '.']);
  check('lint', 'npx', ['eslint', '.']);
  check('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
  check('typecheck web', 'npx', ['tsc', '-p', 'web/tsconfig.json', '--noEmit']);
  check('build', 'npm', ['run', 'build']);
}
vitest('pglite');
vitest('postgres');

if (failures.length) console.log(`\nFailed: ${failures.join(', ')}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed ? 1 : 0);
