#!/usr/bin/env node
// Thin launcher: the bundled CLI lives in dist/ (scripts/build.mjs, run by `npm ci` through the prepare script).
import module from 'node:module';

// Node ≥ 22.1 keeps V8's compiled code for these modules on disk, so later starts skip compiling them; Node 20
// has no such cache (the function is missing there).
module.enableCompileCache?.();
const { main } = await import('../dist/cli/main.js');

await main(process.argv);
