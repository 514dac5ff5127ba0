import { anyone, definePolicy } from '../policy.js';

/**
 * The tool layer: the MCP endpoints need the credential's MCP use; each tool names the permission it needs
 * (`ToolPermission`), all of which MCP use grants today. A key's restriction to some skills narrows the tools'
 * view of the library (`restrictLibrary`), not the permission.
 */
export const toolsPolicy = definePolicy({
  scope: 'mcp',
  rules: {
    use: anyone,
    'skills.read': (actor) => actor.scopes.includes('mcp'),
    'skills.run': (actor) => actor.scopes.includes('mcp'),
  },
});
