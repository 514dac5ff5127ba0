import type { Principal } from '../shared/principal.js';

/** The part of an assistant that decides who may do what with it. */
export interface AssistantAccess {
  id: string;
  ownerId: string;
  shared: boolean;
}

/**
 * Who may do what with assistants. An assistant is its owner's; an admin may share one with every user. Another
 * user's unshared assistant answers exactly like a missing one.
 */
export const assistantPolicy = {
  read: (actor: Principal, a: AssistantAccess) => a.ownerId === actor.userId || a.shared,
  /** Change or delete: the owner, or an admin for a shared one. */
  manage: (actor: Principal, a: AssistantAccess) => a.ownerId === actor.userId || (a.shared && actor.isAdmin),
  /** Share with everybody (or stop sharing). */
  share: (actor: Principal) => actor.isAdmin,
  /**
   * Call through the OpenAI-compatible API: the credential has `assistants` (`can_call_assistant`), and a key
   * bound to assistants lists this one; an unbound key calls all its owner's and the shared ones.
   */
  call: (actor: Principal, a: AssistantAccess) =>
    actor.scopes.includes('assistants') &&
    (a.ownerId === actor.userId || a.shared) &&
    (!actor.assistantIds?.length || actor.assistantIds.includes(a.id)),
};
