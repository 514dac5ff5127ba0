import { forbidden, notFound } from '../shared/errors.js';
import type { Principal, TokenScope } from '../shared/principal.js';
import type { Policy, Rule } from './policy.js';
import { POLICIES } from './policies/index.js';

type Policies = typeof POLICIES;
/** Every action of every policy: `skills.read`, `users.list`, `tools.skills.run`… */
export type Action = {
  [P in keyof Policies]: `${P & string}.${keyof Policies[P]['rules'] & string}`;
}[keyof Policies];
/** The resource an action's rule looks at (`undefined` when it needs none). */
export type ResourceOf<A extends Action> = A extends `${infer P extends keyof Policies & string}.${infer R}`
  ? R extends keyof Policies[P]['rules']
    ? Parameters<Policies[P]['rules'][R] & Rule>[1]
    : never
  : never;

function lookup(action: string): { policy: Policy; rule: string } {
  const dot = action.indexOf('.');
  const policy = (POLICIES as Record<string, Policy>)[action.slice(0, dot)];
  const rule = action.slice(dot + 1);
  if (!policy?.rules[rule]) throw new Error(`Unknown action ${action}`);
  return { policy, rule };
}

/** Whether `actor` may do `action` (to `resource`). */
export function may<A extends Action>(actor: Principal, action: A, resource?: ResourceOf<A>): boolean {
  const { policy, rule } = lookup(action);
  return policy.rules[rule]!(actor, resource);
}

/**
 * Throws unless `actor` may do `action`: 403 `forbidden` with the policy's message, or — with `asMissing` —
 * the 404 a missing resource gets, for a resource whose existence the actor must not learn.
 */
export function authorize<A extends Action>(
  actor: Principal,
  action: A,
  resource?: ResourceOf<A>,
  opts: { asMissing?: string } = {},
): void {
  if (may(actor, action, resource)) return;
  if (opts.asMissing !== undefined) throw notFound(opts.asMissing);
  const { policy, rule } = lookup(action);
  throw forbidden(policy.denied?.[rule] ?? 'Not allowed');
}

/** What a refusal of `action` says, when its policy words it (documented as the route's 403). */
export function refusalOf(action: Action): string | undefined {
  const { policy, rule } = lookup(action);
  return policy.denied?.[rule];
}

/** The credential permission a route declaring `action` needs (see `Policy.scope`). */
export function scopeFor(action: Action): TokenScope {
  const { policy, rule } = lookup(action);
  return policy.scopes?.[rule] ?? policy.scope;
}

/** Every declared action, for route tables and tests. */
export const ACTIONS: readonly Action[] = Object.entries(POLICIES as Record<string, Policy>).flatMap(
  ([name, policy]) => Object.keys(policy.rules).map((rule) => `${name}.${rule}` as Action),
);
