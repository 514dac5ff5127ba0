import type { ToolResult } from '../tools/index.js';

/** Each tool result fed to the model is capped: a runaway output must not fill the context window. */
export const MAX_TOOL_RESULT_CHARS = 32_000;

/** A tool's result as the text of an OpenAI tool message: text parts joined, other content named. */
export function asToolResultText(result: ToolResult): string {
  const parts = result.content.map((block) => {
    if (block.type === 'text') return block.text;
    if (block.type === 'resource' && 'text' in block.resource) return String(block.resource.text);
    return `[${block.type} content omitted]`;
  });
  const text = parts.join('\n');
  return text.length > MAX_TOOL_RESULT_CHARS
    ? `${text.slice(0, MAX_TOOL_RESULT_CHARS)}\n[truncated: ${text.length - MAX_TOOL_RESULT_CHARS} more characters]`
    : text;
}
