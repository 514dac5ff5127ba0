import { apiKeysPolicy } from './api-keys.js';
import { auditPolicy } from './audit.js';
import { metricsPolicy } from './metrics.js';
import { settingsPolicy } from './settings.js';
import { skillsPolicy } from './skills.js';
import { toolsPolicy } from './tools.js';
import { usersPolicy } from './users.js';
import { oauthPolicy } from '../../oauth/policy.js';
import { assistantsPolicy } from '../../assistants/policy.js';
import { providersPolicy } from '../../providers/policy.js';
import { searchPolicy } from '../../search/policy.js';
import { mcpServersPolicy } from '../../upstreams/policy.js';

/**
 * Every resource's policy, by resource name: actions are `<resource>.<rule>` (`skills.share`, `users.list`).
 * A new room adds one line here for its `src/<room>/policy.ts`, e.g.
 * `'mcp-servers': definePolicy({ scope: 'api', rules: mcpServersPolicy })`.
 */
export const POLICIES = {
  skills: skillsPolicy,
  'api-keys': apiKeysPolicy,
  users: usersPolicy,
  audit: auditPolicy,
  settings: settingsPolicy,
  metrics: metricsPolicy,
  tools: toolsPolicy,
  oauth: oauthPolicy,
  assistants: assistantsPolicy,
  providers: providersPolicy,
  search: searchPolicy,
  'mcp-servers': mcpServersPolicy,
};
