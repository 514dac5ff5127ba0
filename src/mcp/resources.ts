import type { Skill, SkillReadResult, SkillSource } from '@modelcontextprotocol/server/ext/skills';
import { AppError } from '../shared/errors.js';
import { findUnsafeText } from '../shared/text.js';
import { isText, isTextType } from '../skills/package/index.js';
import {
  SKILL_URI_SCHEME,
  ToolError,
  skillUri,
  type LibrarySkill,
  type SkillLibrary,
} from '../tools/index.js';

const PAGE_SIZE = 50;

/** `skill://<name>/<path>` → its parts; null for anything else (parts that cannot be names, e.g. with NUL). */
export function parseSkillUri(uri: string): { name: string; path: string } | null {
  if (!uri.startsWith(SKILL_URI_SCHEME)) return null;
  const rest = uri.slice(SKILL_URI_SCHEME.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return null;
  try {
    const path = rest
      .slice(slash + 1)
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/');
    const parts = { name: decodeURIComponent(rest.slice(0, slash)), path };
    return findUnsafeText(parts) ? null : parts;
  } catch {
    return null;
  }
}

function toEntry(skill: LibrarySkill): Skill {
  return {
    uri: skillUri(skill.name, 'SKILL.md'),
    frontmatter: skill.frontmatter as Skill['frontmatter'],
    resources: skill.files.map((f) => ({
      uri: skillUri(skill.name, f.path),
      digest: `sha256:${f.sha256}`,
      size: f.size,
    })),
  };
}

/** Missing things are `undefined` for the SDK (it answers "not found"); other failures propagate. */
async function orUndefined<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (
      (err instanceof ToolError && err.code === 'not_found') ||
      (err instanceof AppError && err.kind === 'not_found')
    )
      return undefined;
    throw err;
  }
}

/**
 * The Skills-over-MCP catalog (SEP-2640) of one caller, backed by their library: every file of every enabled
 * skill is a `skill://<name>/<path>` resource with the SHA-256 digest the store already keeps.
 */
export function librarySkillSource(library: SkillLibrary): SkillSource {
  return {
    async list({ cursor }) {
      const page = await library.entries(cursor, PAGE_SIZE);
      return {
        skills: page.skills.map(toEntry),
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      };
    },
    async get(uri) {
      const parsed = parseSkillUri(uri);
      if (!parsed || parsed.path !== 'SKILL.md') return undefined;
      return orUndefined(async () => toEntry(await library.describe(parsed.name)));
    },
    async read(uri): Promise<SkillReadResult | undefined> {
      const parsed = parseSkillUri(uri);
      if (!parsed) return undefined;
      return orUndefined(async () => {
        const file = await library.readFile(parsed.name, parsed.path);
        const mimeType = file.contentType.split(';')[0]!;
        // Text only when the bytes really are UTF-8: a `.md` holding anything else would be altered by decoding,
        // and the client's digest check would (rightly) fail.
        return isTextType(mimeType) && isText(file.data)
          ? { text: file.data.toString('utf8'), mimeType }
          : { bytes: new Uint8Array(file.data), mimeType };
      });
    },
  };
}
