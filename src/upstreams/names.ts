import { createHash } from 'node:crypto';

/** A server's name: the prefix of its tools' exposed names. No `_`, so the `__` separator is unambiguous. */
export const SERVER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$/;
/** What model APIs (OpenAI, Bedrock, Gemini) accept as a tool name. */
export const EXPOSED_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX = 64;
const HASH_CHARS = 6;

const stableHash = (server: string, tool: string) =>
  createHash('sha256').update(`${server}\0${tool}`).digest('base64url').slice(0, HASH_CHARS);

/**
 * The name a caller sees for `tool` of `server`: `<server>__<tool>` when that is already a valid model-API name,
 * else a readable head (invalid characters replaced by `_`, cut to fit) plus `_` and a stable hash of the original
 * pair, so the result is deterministic, always valid and different for different originals. Calls are routed by
 * a lookup table, never by parsing the name back.
 */
export function exposedToolName(server: string, tool: string, forceHash = false): string {
  const plain = `${server}__${tool.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  if (!forceHash && plain.length <= MAX && plain === `${server}__${tool}` && tool.length > 0) return plain;
  return `${plain.slice(0, MAX - HASH_CHARS - 1)}_${stableHash(server, tool)}`;
}

/**
 * Exposed names for every tool of one server, collision-free: a plain name that happens to equal another
 * tool's shortened name is hashed too; a tool whose hashed name still collides (a 36-bit hash clash) is left out
 * rather than shadowing another.
 */
export function exposedNames(server: string, tools: readonly string[]): Map<string, string> {
  const first = new Map(tools.map((t) => [t, exposedToolName(server, t)]));
  const counts = new Map<string, number>();
  for (const n of first.values()) counts.set(n, (counts.get(n) ?? 0) + 1);
  const out = new Map<string, string>();
  const taken = new Set<string>();
  for (const [tool, name] of first) {
    const exposed = counts.get(name)! > 1 ? exposedToolName(server, tool, true) : name;
    if (taken.has(exposed)) continue;
    taken.add(exposed);
    out.set(tool, exposed);
  }
  return out;
}
