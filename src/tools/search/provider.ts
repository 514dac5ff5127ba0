import { z } from 'zod';
import type { SearchAnswer, SearchQuery } from '../../search/index.js';
import type { Principal } from '../../shared/principal.js';
import { ToolError } from '../errors.js';
import { fullView, type ToolRegistry } from '../registry.js';
import { withCachedJsonSchema } from '../schema.js';
import { defineTool, textResult, type Tool, type ToolProvider } from '../tool.js';

export const SEARCH_TOOLS = 'search_tools';
export const CALL_TOOL = 'call_tool';

/** What the meta-tools need of search: one ranked, visibility-filtered query for a caller. */
export interface MetaSearch {
  service: { search(principal: Principal, query: SearchQuery): Promise<SearchAnswer> };
}

const SEARCH_ARGUMENTS = withCachedJsonSchema(
  z.object({
    query: z.string().min(1).max(200).describe('Words describing the task'),
    limit: z.number().int().min(1).max(50).optional().describe('Maximum results (default 10)'),
  }),
);
const CALL_ARGUMENTS = withCachedJsonSchema(
  z.object({
    name: z.string().min(1).max(200).describe('A tool name from search_tools (or load_skill for a skill)'),
    arguments: z.record(z.string(), z.unknown()).optional().describe('The tool arguments'),
  }),
);

/**
 * The meta-tools: `search_tools` finds skills and tools together (hybrid search over the caller's own tool list
 * and visible skills) and answers with ready-to-call names; `call_tool` calls a tool by name, listed only to a
 * credential in compact mode, whose tool list is these two. Both act with the caller's full view
 * (`fullView`): compact mode hides tools from the list, it grants nothing; the credential's skill restriction
 * and permissions still apply to every call.
 */
export function searchMetaTools(search: MetaSearch, registry: ToolRegistry): ToolProvider {
  const meta = new Set([SEARCH_TOOLS, CALL_TOOL]);
  const searchTool = defineTool({
    name: SEARCH_TOOLS,
    title: 'Search skills and tools',
    description:
      'Finds the skills and tools for a task among everything you can use, best first. Each result names what ' +
      'to call: a tool by its name with its arguments, a skill through load_skill with its skill_name.',
    inputSchema: SEARCH_ARGUMENTS,
    annotations: { readOnlyHint: true, openWorldHint: false },
    permission: 'skills.read',
    async call({ query, limit }, ctx) {
      const principal = fullView(ctx.principal);
      const tools = (await registry.toolsFor(principal)).tools.filter((t) => !meta.has(t.name));
      const answer = await search.service.search(principal, {
        text: query,
        limit: limit ?? 10,
        kinds: ['skill', 'tool'],
        callableTools: tools.map((t) => t.name),
      });
      if (!answer.results.length) return textResult(`Nothing matches "${query}".`);
      const via = ctx.principal.restriction?.compactTools ? `${CALL_TOOL} ` : '';
      const lines = answer.results.map((r) =>
        r.kind === 'skill'
          ? `- skill ${r.name} (${r.match} match): ${oneLine(r.description)} → call ${via}load_skill with {"skill_name": "${r.name}"}`
          : `- tool ${r.name} (${r.match} match): ${oneLine(r.description)} → call ${via}${r.name}`,
      );
      const mode = answer.mode === 'hybrid' ? 'hybrid search' : 'full-text search';
      return textResult(`Results for "${query}" (${mode}), best first:\n${lines.join('\n')}`);
    },
  });
  const callTool = defineTool({
    name: CALL_TOOL,
    title: 'Call a tool by name',
    description:
      'Calls any tool you can use by its name (from search_tools), with its arguments as an object. Skills: ' +
      'call load_skill with {"skill_name": …}, then read_reference_file or run_shell_command as it says.',
    inputSchema: CALL_ARGUMENTS,
    annotations: { openWorldHint: true },
    permission: 'skills.read',
    async call({ name, arguments: args }, ctx) {
      if (meta.has(name))
        throw new ToolError('invalid_input', `Call ${name} directly, not through ${CALL_TOOL}.`);
      return registry.call(name, args ?? {}, { ...ctx, principal: fullView(ctx.principal) });
    },
  });
  const normal: readonly Tool[] = [searchTool];
  const compact: readonly Tool[] = [searchTool, callTool];
  return {
    name: 'search',
    tools: (principal) => (principal.restriction?.compactTools ? compact : normal),
  };
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
