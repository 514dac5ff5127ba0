import { anyone, definePolicy } from '../authz/policy.js';

/** The part of an assistant that decides who may do what with it. */
export interface AssistantAccess {
  id: string;
  ownerId: string;
  shared: boolean;
}

/**
 * Who may do what with assistants (the `assistants` resource of `authz/`). An assistant is its owner's; an admin
 * may share one with every user. Another user's unshared assistant answers exactly like a missing one. Managing
 * them goes through the REST API (`api`); calling them through the OpenAI-compatible API (`assistants`).
 */
export const assistantsPolicy = definePolicy({
  scope: 'api',
  scopes: { call: 'assistants' },
  rules: {
    /** The REST routes of assistants and chat sessions (each then decides per assistant or session). */
    use: anyone,
    read: (actor, a?: AssistantAccess) => !!a && (a.ownerId === actor.userId || a.shared),
    /** Change or delete: the owner, or an admin for a shared one. */
    manage: (actor, a?: AssistantAccess) =>
      !!a && (a.ownerId === actor.userId || (a.shared && actor.isAdmin)),
    /** Share with everybody (or stop sharing). */
    share: (actor) => actor.isAdmin,
    /**
     * Call through the OpenAI-compatible API: the credential has `assistants` (`can_call_assistant`), and a key
     * bound to assistants lists this one; an unbound key calls all its owner's and the shared ones.
     */
    call: (actor, a?: AssistantAccess) =>
      actor.scopes.includes('assistants') &&
      (a === undefined ||
        ((a.ownerId === actor.userId || a.shared) &&
          (!actor.assistantIds?.length || actor.assistantIds.includes(a.id)))),
  },
});
