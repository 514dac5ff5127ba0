import { definePolicy } from '../authz/policy.js';

/**
 * Who may do what with OAuth (plugged into `authz/` as the `oauth` resource). Another user's connection answers
 * like a missing one.
 */
export const oauthPolicy = definePolicy({
  scope: 'api',
  rules: {
    /** Approving a client's request for access: only a console session — never a key or another OAuth token. */
    approve: (actor) => actor.via === 'session',
    /** Listing and revoking connected applications: their owner (through a credential that manages the account). */
    connections: (actor, connection?: { userId: string }) =>
      connection === undefined || actor.userId === connection.userId,
  },
  denied: { approve: 'Only a console session can approve a client' },
});

/** A client may ask users for access unless the admins limited clients to a list that does not name it. */
export const clientAllowed = (allowedClients: readonly string[], clientId: string): boolean =>
  allowedClients.length === 0 || allowedClients.includes(clientId);
