import type { Principal } from '../shared/principal.js';

/**
 * Who may do what with OAuth (plain predicates; the services call them). Another user's connection answers
 * like a missing one.
 */

/** Approving a client's request for access: only a console session — never a key or another OAuth token. */
export const canApproveAuthorization = (actor: Principal): boolean => actor.via === 'session';

/** Listing and revoking connected applications: their owner, through a credential that manages the account. */
export const canManageConnection = (actor: Principal, connection: { userId: string }): boolean =>
  actor.userId === connection.userId && actor.scopes.includes('api');

/** A client may ask users for access unless the admins limited clients to a list that does not name it. */
export const clientAllowed = (allowedClients: readonly string[], clientId: string): boolean =>
  allowedClients.length === 0 || allowedClients.includes(clientId);
