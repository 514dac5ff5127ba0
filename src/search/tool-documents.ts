import { sha256Hex } from '../shared/crypto.js';
import type { SearchDocumentInput } from './documents.js';

export interface ToolDescription {
  /** The user whose tool list holds it; null = everybody's. */
  ownerId: string | null;
  /** The exposed, ready-to-call name (`<server>__<tool>`). */
  name: string;
  description: string;
  /** The tool's JSON Schema for its arguments. */
  inputSchema?: { properties?: Record<string, { description?: string }> };
}

/**
 * A tool as a search document: its name with `_` as spaces (weight A), description (B), parameter names and
 * descriptions (C); the same text is embedded.
 */
export function toolDocument(tool: ToolDescription): SearchDocumentInput {
  const params = Object.entries(tool.inputSchema?.properties ?? {})
    .map(([name, p]) => `${name}${p?.description ? `: ${p.description}` : ''}`)
    .join('\n');
  const words = tool.name.replace(/[_-]+/g, ' ');
  const embedText = `${words}\n${tool.description}\n${params}`;
  return {
    kind: 'tool',
    sourceKey: `${tool.ownerId ?? '*'}/${tool.name}`,
    ownerId: tool.ownerId,
    name: tool.name,
    description: tool.description,
    fullText: { a: words, b: tool.description, c: params },
    contentHash: sha256Hex(embedText),
    embedText,
  };
}
