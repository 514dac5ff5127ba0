import type { Principal } from '../shared/principal.js';

/** The part of a provider that decides who may do what with it: `ownerId` null = an admin's, for everybody. */
export interface ProviderOwnership {
  ownerId: string | null;
}

/**
 * Who may do what with model providers. Admins configure providers for everybody; users configure their own
 * only while the `user_model_providers` setting allows it. Another user's provider answers like a missing one.
 */
export const providerPolicy = {
  /** Create a provider for everybody. */
  createGlobal: (actor: Principal) => actor.isAdmin,
  /** Create a provider of one's own. */
  createOwn: (_actor: Principal, usersAllowed: boolean) => usersAllowed,
  /** See a provider (masked key): everybody's, or one's own. */
  read: (actor: Principal, p: ProviderOwnership) => p.ownerId === null || p.ownerId === actor.userId,
  /** Change, check, list models of, or delete a provider. */
  manage: (actor: Principal, p: ProviderOwnership) =>
    p.ownerId === null ? actor.isAdmin : p.ownerId === actor.userId,
  /** Give a provider to an assistant owned by `ownerId`. */
  useFor: (ownerId: string, p: ProviderOwnership) => p.ownerId === null || p.ownerId === ownerId,
  /**
   * Call private or local addresses (Ollama on localhost, a vLLM on the LAN): only admins' providers. A user's
   * own provider is SSRF-guarded at configuration and on every request.
   */
  reachPrivate: (p: ProviderOwnership) => p.ownerId === null,
};
