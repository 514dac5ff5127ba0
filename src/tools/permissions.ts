import type { Principal } from '../shared/principal.js';
import type { ToolPermission } from './tool.js';

/**
 * Whether `principal` holds `permission`: the one mapping from credentials to tool permissions. A credential's
 * MCP use (the `mcp` scope; console sessions hold it) grants reading and running skills, and so does calling an
 * assistant (`assistants`): the assistant's loop then picks its own selection (`assistants/tools.ts`). Each edge
 * checks its scope before it lists tools, so `assistants` alone never opens `/mcp`.
 */
export function principalMay(principal: Principal, permission: ToolPermission): boolean {
  switch (permission) {
    case 'skills.read':
    case 'skills.run':
      return principal.scopes.includes('mcp') || principal.scopes.includes('assistants');
  }
}
