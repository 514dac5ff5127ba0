/** Public surface of the tool layer: tools, providers, the registry every edge lists and calls them through. */
export {
  defineTool,
  textResult,
  type Tool,
  type ToolCallReport,
  type ToolContext,
  type ToolPermission,
  type ToolProvider,
  type ToolResult,
  type ToolsChange,
} from './tool.js';
export { ToolError, INTERNAL_ERROR_MESSAGE, type ToolErrorCode } from './errors.js';
export { principalMay } from './permissions.js';
export { ToolRegistry, type ToolSet } from './registry.js';
export { givenJsonSchema, openAiFunction, withCachedJsonSchema, type OpenAiFunctionSpec } from './schema.js';
export {
  SkillFileNotFound,
  SkillNotFound,
  SKILL_URI_SCHEME,
  skillUri,
  userLibrary,
  type LibrarySkill,
  type SkillLibrary,
} from './skills/library.js';
export { FolderSkillLibrary } from './skills/folder-library.js';
export { databaseSkillViews, SkillViews, type SkillViewChange } from './skills/views.js';
export { skillLibraryTools, type SkillSearch } from './skills/provider.js';
export { searchMetaTools, CALL_TOOL, SEARCH_TOOLS } from './search/provider.js';
export { commandTools, type CommandAudit, type CommandToolOptions } from './skills/commands.js';
