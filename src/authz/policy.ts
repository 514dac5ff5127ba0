import type { Principal, TokenScope } from '../shared/principal.js';

/**
 * One decision: may `actor` do this (to `resource`, when the decision depends on one)? Plain and synchronous, so
 * a policy is a table of facts that tests can read; anything that needs the database (who owns what, visibility)
 * is loaded by the service first and passed in as the resource.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each rule names its own resource type
export type Rule<R = any> = (actor: Principal, resource?: R) => boolean;
export type Rules = Record<string, Rule>;

/** The policy of one resource: who may do each of its actions, and what routes of the resource need. */
export interface Policy<R extends Rules = Rules> {
  /**
   * The credential permission every route acting on this resource needs (`requirePermission` checks it first and
   * answers 403 `insufficient_scope`): `api` for the REST API, `mcp` for the MCP endpoints, `assistants` for the
   * OpenAI-compatible API. Checked at the edge only: services decide by `rules`.
   */
  scope: TokenScope;
  /** Per-action exceptions to `scope` (e.g. calling an assistant needs `assistants`, managing it `api`). */
  scopes?: Partial<Record<keyof R & string, TokenScope>>;
  rules: R;
  /** What a refusal says (403 `forbidden`); default "Not allowed". */
  denied?: Partial<Record<keyof R & string, string>>;
}

/**
 * A policy with its types kept. A room's own `policy.ts` (plain predicates) plugs in with one line in
 * `authz/policies/index.ts`: `assistants: definePolicy({ scope: 'api', rules: assistantsPolicy })`.
 */
export const definePolicy = <R extends Rules>(policy: Policy<R>): Policy<R> => policy;

/** Reused by several policies: the credential acts with its user's admin powers (see `Principal.isAdmin`). */
export const isAdmin: Rule = (actor) => actor.isAdmin;
export const anyone: Rule = () => true;
export const ADMINS_ONLY = 'Administrators only';
