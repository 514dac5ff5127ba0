/** Public surface of the MCP room. */
export { mountMcp } from './http.js';
export { buildMcpServer, type ToolRegistrar } from './server.js';
export { userLibrary, type SkillLibrary, type LibrarySkill } from './library.js';
export { type ToolContext, type ToolResult } from './tools.js';
export { commandTool, type CommandToolOptions } from './commands.js';
export { runStdioCommand } from './stdio.js';
