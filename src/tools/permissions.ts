import type { Principal } from '../shared/principal.js';
import type { ToolPermission } from './tool.js';

/**
 * Whether `principal` holds `permission`: the one mapping from credentials to tool permissions. Today a
 * credential's MCP use (the `mcp` scope; console sessions hold it) grants reading and running skills and calling upstream MCP servers' tools.
 */
export function principalMay(principal: Principal, permission: ToolPermission): boolean {
  switch (permission) {
    case 'skills.read':
    case 'skills.run':
    case 'upstreams.call':
      return principal.scopes.includes('mcp');
  }
}
