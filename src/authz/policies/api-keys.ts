import type { TokenScope } from '../../shared/principal.js';
import { anyone, definePolicy } from '../policy.js';

/** A key permission as the create/update requests name it. */
export type KeyPermissionName = 'can_manage' | 'can_use_mcp' | 'can_call_assistant' | 'can_admin';
const SCOPE_OF_PERMISSION: Record<Exclude<KeyPermissionName, 'can_admin'>, TokenScope> = {
  can_manage: 'api',
  can_use_mcp: 'mcp',
  can_call_assistant: 'assistants',
};

/**
 * API keys belong to their user (another user's key answers like a missing one, by query). A credential can
 * give a key only powers it holds itself; `can_admin` only from a console session or a key acting as admin,
 * so an admin's ordinary key cannot mint an admin key.
 */
export const apiKeysPolicy = definePolicy({
  scope: 'api',
  rules: {
    list: anyone,
    create: anyone,
    update: anyone,
    revoke: anyone,
    grant: (actor, permission?: KeyPermissionName) =>
      permission === 'can_admin'
        ? actor.via === 'session' || actor.isAdmin
        : permission !== undefined && actor.scopes.includes(SCOPE_OF_PERMISSION[permission]),
  },
});
