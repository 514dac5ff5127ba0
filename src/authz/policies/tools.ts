import { anyone, definePolicy, type Rule } from '../policy.js';

/**
 * The tool layer: the MCP endpoints need the credential's MCP use; each tool names the permission it needs
 * (`ToolPermission`). MCP use grants reading and running skills, and so does calling an assistant (`assistants`):
 * the assistant's loop then applies its own selection (`assistants/tools.ts`). Each edge checks its scope before
 * it lists tools, so `assistants` alone never opens `/mcp`. A key's restriction to some skills narrows the tools'
 * view of the library (`restrictLibrary`), not the permission.
 */
const mcpOrAssistants: Rule = (actor) => actor.scopes.includes('mcp') || actor.scopes.includes('assistants');
export const toolsPolicy = definePolicy({
  scope: 'mcp',
  rules: {
    use: anyone,
    'skills.read': mcpOrAssistants,
    'skills.run': mcpOrAssistants,
    /** Upstream MCP servers' tools (an assistant's loop then applies its own selection of servers and tools). */
    'upstreams.call': mcpOrAssistants,
  },
});
