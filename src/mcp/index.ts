/** Public surface of the MCP room. */
export { mountMcp } from './http.js';
export { buildMcpServer, type ToolRegistrar } from './server.js';
export { userLibrary, type SkillLibrary, type LibrarySkill } from './library.js';
export {
  instrumented,
  textResult,
  withCachedJsonSchema,
  type ToolContext,
  type ToolResult,
} from './tools.js';
export { parseSkillUri, skillUri } from './resources.js';
export { commandTool, type CommandToolOptions } from './commands.js';
export { FolderSkillLibrary } from './folder-library.js';
export { runStdioCommand, serveFolderOverStdio } from './stdio.js';
