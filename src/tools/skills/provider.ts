import { z } from 'zod';
import { isText, isTextType } from '../../skills/package/index.js';
import { ToolError } from '../errors.js';
import { withCachedJsonSchema } from '../schema.js';
import { defineTool, textResult, type Tool, type ToolContext, type ToolProvider } from '../tool.js';
import { memo, SkillNotFound, skillUri, type SkillLibrary } from './library.js';
import { closest } from './suggest.js';
import type { SkillViews } from './views.js';
import type { Principal } from '../../shared/principal.js';

const MAX_LISTED_FILES = 200;
const MAX_TEXT_BYTES = 512 * 1024;
const MAX_BLOB_BYTES = 5 * 1024 * 1024;

const formatSize = (n: number) =>
  n < 1024
    ? `${n} B`
    : n < 1024 * 1024
      ? `${(n / 1024).toFixed(1)} KB`
      : `${(n / 1024 / 1024).toFixed(1)} MB`;

/**
 * Runs `fn`; an unknown skill becomes an error that lists the closest names the caller does have (`otherwise`
 * when none is close).
 */
export async function withSkill<T>(
  library: SkillLibrary,
  fn: () => Promise<T>,
  otherwise = ' Call load_skill_metadata to see the available skills.',
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof SkillNotFound)) throw err;
    const near = closest(
      err.skill,
      (await library.catalog()).map((s) => s.name),
    );
    throw new ToolError(
      'not_found',
      `No skill named "${err.skill}".${near.length ? ` Did you mean: ${near.join(', ')}?` : otherwise}`,
    );
  }
}

/** Normalises a file path an agent typed ("./scripts/x.py") to how the skill stores it. */
function normalisePath(p: string): string | null {
  const cleaned = p
    .trim()
    .replace(/\\/g, '/')
    .replace(/^(\.\/)+/, '');
  if (!cleaned || cleaned.startsWith('/') || cleaned.split('/').some((s) => s === '..')) return null;
  return cleaned;
}

/** Skills per load_skill_metadata answer: more would crowd a model's context; search_skills finds the rest. */
export const METADATA_PAGE_SIZE = 100;
const METADATA_ARGUMENTS = withCachedJsonSchema(
  z.object({
    cursor: z
      .string()
      .max(20)
      .optional()
      .describe('Where to continue, as given by the previous answer (for more than 100 skills)'),
  }),
);
const LOAD_SKILL_ARGUMENTS = withCachedJsonSchema(
  z.object({
    skill_name: z.string().min(1).max(128).describe('The skill name from load_skill_metadata'),
  }),
);
const READ_FILE_ARGUMENTS = withCachedJsonSchema(
  z.object({
    skill_name: z.string().min(1).max(128).describe('The skill name'),
    file_name: z.string().min(1).max(1024).describe('Path of the file inside the skill'),
  }),
);
const SEARCH_ARGUMENTS = withCachedJsonSchema(
  z.object({
    query: z.string().min(1).max(200).describe('Words describing the task'),
    limit: z.number().int().min(1).max(50).optional().describe('Maximum results (default 10)'),
  }),
);

const READ_ONLY = { readOnlyHint: true, openWorldHint: false };

type Catalog = Awaited<ReturnType<SkillLibrary['catalog']>>;
const line = (s: Catalog[number]) => `- ${s.name}: ${s.description.replace(/\s+/g, ' ').trim()}`;
/** load_skill_metadata's answers, one per page of METADATA_PAGE_SIZE skills (a single page: the whole list). */
function listingPages(catalog: Catalog): string[] {
  if (!catalog.length) return ['No skills are available yet. Upload skills in the Skillport console.'];
  const total = catalog.length;
  if (total <= METADATA_PAGE_SIZE)
    return [
      `Available skills (${total}). Call load_skill(skill_name) before using one:\n${catalog.map(line).join('\n')}`,
    ];
  const pages: string[] = [];
  for (let from = 0; from < total; from += METADATA_PAGE_SIZE) {
    const to = Math.min(from + METADATA_PAGE_SIZE, total);
    const next =
      to < total
        ? `\n\n${total - to} more: call load_skill_metadata with cursor "${to}" for the next ` +
          `${Math.min(METADATA_PAGE_SIZE, total - to)}, or search_skills to find a skill by topic.`
        : '';
    pages.push(
      `Available skills (${total}), ${from + 1}–${to} shown. Call load_skill(skill_name) before using one:\n` +
        catalog.slice(from, to).map(line).join('\n') +
        next,
    );
  }
  return pages;
}
/**
 * load_skill_metadata's pages, rendered once per catalog: a library hands out the same array until a change or
 * its cache's TTL replaces it, so a warm call costs the same for 5,000 skills as for 100.
 */
const renderedPages = (catalog: Catalog): string[] => memo(listingPages, catalog);
/** The page a cursor names: the first without one, none (-1) for anything but a number an answer gave. */
const pageNamed = (cursor: string | undefined): number => {
  if (cursor === undefined) return 0;
  return /^\d{1,9}$/.test(cursor) ? Number(cursor) / METADATA_PAGE_SIZE : -1;
};
/** Ranked skill search for one caller (its visibility and restriction applied), best first. */
export type SkillSearch = (
  principal: Principal,
  query: string,
  limit: number,
) => Promise<Array<{ name: string; description: string; score: number; match?: string }>>;

/**
 * The progressive-disclosure tools, named and shaped like the original AgentSkills MCP so existing agents keep
 * working: list → load → read (→ run, `commandTools`). Each call works on the caller's view of the library
 * (`SkillViews`, where a credential's restriction applies). The tools never change, so neither does the list.
 * With `search` (the server's hybrid search), search_skills ranks through it; otherwise the library's own.
 */
export function skillLibraryTools(views: SkillViews, search?: SkillSearch): ToolProvider {
  const libraryOf = (ctx: ToolContext) => views.libraryFor(ctx.principal);
  const tools: readonly Tool[] = [
    defineTool({
      name: 'load_skill_metadata',
      title: 'List available skills',
      description:
        'Lists the skills you can use, one line each: "- <name>: <description>" (100 at a time; the answer ' +
        'says how to get the next ones). Call this first, pick the skill whose description matches the task, ' +
        'then call load_skill with its name to get its instructions.',
      inputSchema: METADATA_ARGUMENTS,
      annotations: READ_ONLY,
      permission: 'skills.read',
      async call({ cursor }, ctx) {
        const pages = renderedPages(await libraryOf(ctx).catalog());
        const text = pages[pageNamed(cursor)];
        if (text === undefined)
          throw new ToolError(
            'invalid_input',
            `No page starts at cursor "${cursor}"; call load_skill_metadata without a cursor to start again.`,
          );
        return textResult(text);
      },
    }),
    defineTool({
      name: 'load_skill',
      title: 'Load a skill',
      description:
        "Returns a skill's SKILL.md instructions, followed by the list of its other files. Follow the " +
        'instructions; read the files they mention with read_reference_file, and run its scripts with ' +
        'run_shell_command (commands run from the skill root, e.g. "python3 scripts/tool.py").',
      inputSchema: LOAD_SKILL_ARGUMENTS,
      annotations: READ_ONLY,
      permission: 'skills.read',
      async call({ skill_name }, ctx) {
        const library = libraryOf(ctx);
        const skill = await withSkill(library, () => library.describe(skill_name));
        const md = await library.readFile(skill.name, 'SKILL.md');
        const others = skill.files.filter((f) => f.path !== 'SKILL.md');
        const listed = others
          .slice(0, MAX_LISTED_FILES)
          .map((f) => `- ${f.path} (${formatSize(f.size)}${f.executable ? ', executable' : ''})`);
        if (others.length > MAX_LISTED_FILES)
          listed.push(`… and ${others.length - MAX_LISTED_FILES} more files`);
        const files = others.length
          ? `\n\n---\nFiles in skill "${skill.name}" (read with read_reference_file, run scripts with run_shell_command):\n${listed.join('\n')}`
          : `\n\n---\nSkill "${skill.name}" has no other files.`;
        return textResult(md.data.toString('utf8') + files);
      },
    }),
    defineTool({
      name: 'read_reference_file',
      title: "Read a skill's file",
      description:
        'Reads one file of a skill (a path listed by load_skill, relative to the skill root, e.g. ' +
        '"references/forms.md"). Text comes back as text; binary files come back as an embedded resource.',
      inputSchema: READ_FILE_ARGUMENTS,
      annotations: READ_ONLY,
      permission: 'skills.read',
      call: ({ skill_name, file_name }, ctx) => readReferenceFile(libraryOf(ctx), skill_name, file_name),
    }),
    defineTool({
      name: 'search_skills',
      title: 'Search skills',
      description:
        'Full-text search over skill names, descriptions and instructions, best match first. Use it instead of ' +
        'load_skill_metadata when there are many skills; then call load_skill with a name from the results.',
      inputSchema: SEARCH_ARGUMENTS,
      annotations: READ_ONLY,
      permission: 'skills.read',
      async call({ query, limit }, ctx) {
        const results: Awaited<ReturnType<SkillSearch>> = search
          ? await search(ctx.principal, query, limit ?? 10)
          : await libraryOf(ctx).search(query, limit ?? 10);
        if (!results.length)
          return textResult(`No skill matches "${query}". Call load_skill_metadata to list all skills.`);
        const lines = results.map(
          (r) =>
            `- ${r.name} (score ${r.score})${r.match ? ` [${r.match} match]` : ''}: ${r.description.replace(/\s+/g, ' ').trim()}`,
        );
        return textResult(`Skills matching "${query}", best first:\n${lines.join('\n')}`);
      },
    }),
  ];
  return { name: 'skills', tools: () => tools };
}

async function readReferenceFile(library: SkillLibrary, skillName: string, fileName: string) {
  const path = normalisePath(fileName);
  if (!path)
    throw new ToolError(
      'invalid_input',
      `"${fileName}" is not a path inside the skill; use a path listed by load_skill.`,
    );
  const skill = await withSkill(library, () => library.describe(skillName));
  const entry = skill.files.find((f) => f.path === path);
  if (!entry) {
    const near = closest(
      path,
      skill.files.map((f) => f.path),
    );
    throw new ToolError(
      'not_found',
      `Skill "${skill.name}" has no file "${path}".${near.length ? ` Did you mean: ${near.join(', ')}?` : ' Call load_skill to list its files.'}`,
    );
  }
  const file = await library.readFile(skill.name, path);
  if (isTextType(file.contentType) && isText(file.data)) {
    if (file.data.length > MAX_TEXT_BYTES) {
      return textResult(
        `${file.data.subarray(0, MAX_TEXT_BYTES).toString('utf8')}\n…[truncated: the file has ${formatSize(file.data.length)}; only the first ${formatSize(MAX_TEXT_BYTES)} are shown]`,
      );
    }
    return textResult(file.data.toString('utf8'));
  }
  if (file.data.length > MAX_BLOB_BYTES) {
    throw new ToolError(
      'invalid_input',
      `"${path}" is a binary file of ${formatSize(file.data.length)}, over the ${formatSize(MAX_BLOB_BYTES)} limit for returning it; use it from a script with run_shell_command instead.`,
    );
  }
  return {
    content: [
      {
        type: 'resource' as const,
        resource: {
          uri: skillUri(skill.name, path),
          mimeType: file.contentType.split(';')[0]!,
          blob: file.data.toString('base64'),
        },
      },
    ],
  };
}
