import { anyone, definePolicy } from '../authz/policy.js';

/** The part of a provider that decides who may do what with it: `ownerId` null = an admin's, for everybody. */
export interface ProviderOwnership {
  ownerId: string | null;
}

/**
 * Who may do what with model providers (the `providers` resource of `authz/`). Admins configure providers for
 * everybody; users configure their own only while the `user_model_providers` setting allows it. Another user's
 * provider answers like a missing one.
 */
export const providersPolicy = definePolicy({
  scope: 'api',
  rules: {
    /** The REST routes of providers (each then decides per provider). */
    use: anyone,
    /** Create a provider for everybody. */
    createGlobal: (actor) => actor.isAdmin,
    /** Create a provider of one's own, while the admins allow it. */
    createOwn: (_actor, usersAllowed?: boolean) => usersAllowed === true,
    /** See a provider (masked key): everybody's, or one's own. */
    read: (actor, p?: ProviderOwnership) => !!p && (p.ownerId === null || p.ownerId === actor.userId),
    /** Change, check, list models of, or delete a provider. */
    manage: (actor, p?: ProviderOwnership) =>
      !!p && (p.ownerId === null ? actor.isAdmin : p.ownerId === actor.userId),
  },
});

/** Whether an assistant owned by `ownerId` may be given provider `p`: everybody's, or the owner's own. */
export const providerUsableBy = (ownerId: string, p: ProviderOwnership): boolean =>
  p.ownerId === null || p.ownerId === ownerId;

/**
 * Whether a provider may call private or local addresses (Ollama on localhost, a vLLM on the LAN): only admins'
 * providers. A user's own provider is SSRF-guarded at configuration and on every request.
 */
export const providerMayReachPrivate = (p: ProviderOwnership): boolean => p.ownerId === null;
