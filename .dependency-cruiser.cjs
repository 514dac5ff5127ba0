/**
 * The rules between rooms (ARCHITECTURE.md, "Rules between rooms", rule 6), checked by `npm test` (`scripts/
 * test.mjs`, step "dependency rules"). Written by layer, not by room name, so that a new room fits without an
 * edit here. A room is a folder `src/<room>/`; the layers, from the bottom:
 *
 *   foundation   shared/ config/ observability/ db/   — imports only the foundation
 *   authz        authz/                               — imports shared/ and the rooms' `policy.ts` files
 *   domain       every other room (accounts/, skills/, tools/, sandbox/…) — never imports an edge
 *   edges        http/ mcp/ web/ openai/, and each room's `routes.ts` / `*-routes.ts` (its REST edge)
 *   composition  server/ cli/                         — nothing imports them (but cli → server)
 *
 * Across rooms, a file imports only another room's surface: its `index.ts`; its `routes.ts` only from the
 * composition root; its `policy.ts` only from authz/. shared/ is a library of leaf modules, imported file by file.
 */
const FOUNDATION = '^src/(shared|config|observability|db)/';
const EDGE_ROOMS = '^src/(http|mcp|web|openai)/';
const ROUTE_FILES = '^src/[^/]+/(routes|[^/]+-routes)\\.ts$';
const COMPOSITION = '^src/(server|cli)/';
const POLICY_FILES = '^src/[^/]+/policy\\.ts$';
/** A room's surface: its index.ts, or the index.ts of a sub-room with a lighter surface (e.g. skills/package/). */
const SURFACES = ['^src/[^/]+/index\\.ts$', '^src/[^/]+/[^/]+/index\\.ts$'];
/**
 * Entry points the CLI imports directly instead of their room's surface, so that `--version`, `--help` and
 * `stdio` start without loading the server, the database and PGlite (bench/README.md, CLI start-up).
 */
const LIGHT_ENTRY_POINTS = ['^src/mcp/stdio\\.ts$', '^src/db/dir-lock\\.ts$'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A cycle makes two rooms one; break it with an event or a hook registered by the composition root.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'composition-is-on-top',
      severity: 'error',
      comment: 'Only the composition root (server/, and cli/ which starts it) builds and wires services.',
      from: { path: '^src/', pathNot: COMPOSITION },
      to: { path: COMPOSITION },
    },
    {
      name: 'foundation-stays-down',
      severity: 'error',
      comment: 'shared/, config/, observability/ and db/ serve every room and import none of them.',
      from: { path: FOUNDATION },
      to: { path: '^src/', pathNot: FOUNDATION },
    },
    {
      name: 'authz-reads-policies-only',
      severity: 'error',
      comment:
        "authz/ decides from plain predicates: it imports shared/ and the rooms' policy.ts files only.",
      from: { path: '^src/authz/' },
      to: { path: '^src/', pathNot: ['^src/authz/', '^src/shared/', POLICY_FILES] },
    },
    {
      name: 'policies-are-leaves',
      severity: 'error',
      comment:
        'A policy.ts is plain predicates over a Principal: it imports shared/ (and authz/policy.ts) only.',
      from: { path: POLICY_FILES },
      to: { path: '^src/', pathNot: ['^src/shared/', '^src/authz/policy\\.ts$'] },
    },
    {
      name: 'domain-never-imports-edges',
      severity: 'error',
      comment: 'Services know no transport: HTTP, MCP and the OpenAI edge call them, never the reverse.',
      from: { path: '^src/', pathNot: [EDGE_ROOMS, ROUTE_FILES, COMPOSITION] },
      to: { path: [EDGE_ROOMS, ROUTE_FILES] },
    },
    {
      name: 'edges-do-not-mount-rooms',
      severity: 'error',
      comment: 'The HTTP shell does not import room routes; the composition root mounts them.',
      from: { path: EDGE_ROOMS },
      to: { path: ROUTE_FILES },
    },
    {
      name: 'only-through-the-surface',
      severity: 'error',
      comment:
        "Across rooms, import the room's index.ts (routes.ts from the composition root, policy.ts from authz/).",
      from: { path: '^src/([^/]+)/', pathNot: COMPOSITION },
      to: {
        path: '^src/',
        pathNot: ['^src/$1/', ...SURFACES, '^src/shared/', '^src/authz/policy\\.ts$', POLICY_FILES],
      },
    },
    {
      name: 'composition-through-the-surface',
      severity: 'error',
      comment:
        'The composition root too imports rooms by their surface: index.ts, or routes.ts to mount them.',
      from: { path: COMPOSITION },
      to: {
        path: '^src/',
        pathNot: [COMPOSITION, ...SURFACES, '^src/shared/', ROUTE_FILES, ...LIGHT_ENTRY_POINTS],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    exclude: { path: '^web/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
