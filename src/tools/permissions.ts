import { may } from '../authz/index.js';
import type { Principal } from '../shared/principal.js';
import type { ToolPermission } from './tool.js';

/** Whether `principal` holds `permission`: the tools policy of `authz/` decides (`tools.<permission>`). */
export const principalMay = (principal: Principal, permission: ToolPermission): boolean =>
  may(principal, `tools.${permission}`);
