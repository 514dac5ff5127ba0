/**
 * oidc-provider prints "Unsupported runtime. Use Node.js v22.x LTS…" with console.warn when it is loaded on
 * Node 20. Skillport supports Node 20 and 22 and runs its OAuth tests on both (docs/oauth.md), and a stray
 * line on stderr breaks the one clear line an operator gets for a configuration error, so that one notice is
 * dropped while the library loads. Imported before `oidc-provider` (ES modules evaluate imports in order), and
 * `restoreConsoleWarn()` is called right after it.
 */
/* eslint-disable no-console -- this module exists to filter one console line of a library */
const original = console.warn;
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider WARNING: Unsupported runtime')) return;
  original(...args);
};

export function restoreConsoleWarn(): void {
  console.warn = original;
}
/* eslint-enable no-console */
