import type { CallToolResult, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { loggableError } from '../http/errors.js';
import { AppError } from '../shared/errors.js';
import { describeTextProblem, findUnsafeText, printablePath } from '../shared/text.js';
import { isText, isTextType } from '../skills/content-type.js';
import type { SkillLibrary } from './library.js';
import { skillUri } from './resources.js';
import { closest } from './suggest.js';

export type ToolResult = CallToolResult;

export interface ToolContext {
  library: SkillLibrary;
  /** For logs and metrics only (null in single-user stdio mode). */
  userId: string | null;
  logger: Logger;
  metrics?: Metrics;
}

export const textResult = (text: string, isError = false): ToolResult => ({
  content: [{ type: 'text', text }],
  ...(isError ? { isError: true } : {}),
});

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
 * Wraps a handler: refuses arguments holding text no store can keep (NUL, lone surrogates; the same rule as
 * the HTTP API), logs user, tool, duration and outcome (never argument values), counts it, and turns any
 * thrown error into an `isError` result a model can act on. Unexpected errors are not described to the caller.
 */
export function instrumented<A>(
  ctx: ToolContext,
  tool: string,
  handler: (args: A) => Promise<ToolResult>,
): (args: A) => Promise<ToolResult> {
  return async (args: A) => {
    const started = performance.now();
    let outcome = 'ok';
    try {
      const unsafe = findUnsafeText(args);
      if (unsafe) {
        outcome = 'tool_error';
        return textResult(
          `Invalid argument ${printablePath(unsafe.path) || '(arguments)'}: it ${describeTextProblem(unsafe.problem)}.`,
          true,
        );
      }
      const result = await handler(args);
      if (result.isError) outcome = 'tool_error';
      return result;
    } catch (err) {
      if (err instanceof AppError) {
        outcome = 'tool_error';
        return textResult(err.message, true);
      }
      outcome = 'internal_error';
      // loggableError drops bound query parameters: a database error would otherwise carry argument values.
      ctx.logger.error({ err: loggableError(err), tool, user: ctx.userId }, 'tool failed');
      return textResult('Internal error while running the tool; try again later.', true);
    } finally {
      const seconds = (performance.now() - started) / 1000;
      ctx.metrics?.toolCalls.inc({ tool, outcome });
      ctx.metrics?.toolDuration.observe({ tool }, seconds);
      ctx.logger.info({ user: ctx.userId, tool, ms: Math.round(seconds * 1000), outcome }, 'tool call');
    }
  };
}

/**
 * An unknown skill name becomes an error that lists the closest names the caller does have (`otherwise` when
 * none is close).
 */
export async function unknownSkill(
  ctx: ToolContext,
  name: string,
  otherwise = ' Call load_skill_metadata to see the available skills.',
): Promise<ToolResult> {
  const near = closest(
    name,
    (await ctx.library.catalog()).map((s) => s.name),
  );
  return textResult(
    `No skill named "${name}".${near.length ? ` Did you mean: ${near.join(', ')}?` : otherwise}`,
    true,
  );
}

async function withSkill<T>(ctx: ToolContext, name: string, fn: () => Promise<T>): Promise<T | ToolResult> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError && err.status === 404 && err.message.startsWith('No skill named')) {
      return unknownSkill(ctx, name);
    }
    throw err;
  }
}

const isToolResult = (v: unknown): v is ToolResult =>
  typeof v === 'object' && v !== null && 'content' in v && Array.isArray((v as ToolResult).content);

/** Normalises a file path an agent typed ("./scripts/x.py") to how the skill stores it. */
function normalisePath(p: string): string | null {
  const cleaned = p
    .trim()
    .replace(/\\/g, '/')
    .replace(/^(\.\/)+/, '');
  if (!cleaned || cleaned.startsWith('/') || cleaned.split('/').some((s) => s === '..')) return null;
  return cleaned;
}

/**
 * Tool argument schemas are built once, and their JSON Schema is converted once: the HTTP entry builds a server
 * instance per request, and the SDK converts the called tool's schema on every request (for its pre-dispatch
 * header checks) and every `tools/list`. Both are pure functions of the schema, so the result is kept on it.
 * Use this for the schemas of other tools too.
 */
export function withCachedJsonSchema<T extends z.ZodType>(schema: T): T {
  type Converter = (options: { target: string }) => Record<string, unknown>;
  const standard = schema['~standard'] as unknown as {
    jsonSchema: { input: Converter; output: Converter };
  } & Record<string, unknown>;
  const memo = new Map<string, Record<string, unknown>>();
  const cached =
    (io: 'input' | 'output'): Converter =>
    (options) => {
      const key = `${io}\0${options.target}`;
      let json = memo.get(key);
      if (!json) {
        json = deepFreeze(standard.jsonSchema[io](options));
        memo.set(key, json);
      }
      return json;
    };
  (schema as { '~standard': unknown })['~standard'] = {
    ...standard,
    jsonSchema: { input: cached('input'), output: cached('output') },
  };
  return schema;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const NO_ARGUMENTS = withCachedJsonSchema(z.object({}));
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

/**
 * The progressive-disclosure tools, named and shaped like the original AgentSkills MCP so existing agents keep
 * working: list → load → read (→ run, registered by the sandbox room).
 */
export function registerSkillTools(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'load_skill_metadata',
    {
      title: 'List available skills',
      description:
        'Lists every skill you can use, one line each: "- <name>: <description>". Call this first, pick the ' +
        'skill whose description matches the task, then call load_skill with its name to get its instructions.',
      inputSchema: NO_ARGUMENTS,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    instrumented(ctx, 'load_skill_metadata', async () => {
      const skills = await ctx.library.catalog();
      if (!skills.length)
        return textResult('No skills are available yet. Upload skills in the Skillport console.');
      const lines = skills.map((s) => `- ${s.name}: ${s.description.replace(/\s+/g, ' ').trim()}`);
      return textResult(
        `Available skills (${skills.length}). Call load_skill(skill_name) before using one:\n${lines.join('\n')}`,
      );
    }),
  );

  server.registerTool(
    'load_skill',
    {
      title: 'Load a skill',
      description:
        "Returns a skill's SKILL.md instructions, followed by the list of its other files. Follow the " +
        'instructions; read the files they mention with read_reference_file, and run its scripts with ' +
        'run_shell_command (commands run from the skill root, e.g. "python3 scripts/tool.py").',
      inputSchema: LOAD_SKILL_ARGUMENTS,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    instrumented(ctx, 'load_skill', async ({ skill_name }: { skill_name: string }) => {
      const skill = await withSkill(ctx, skill_name, () => ctx.library.describe(skill_name));
      if (isToolResult(skill)) return skill;
      const md = await ctx.library.readFile(skill.name, 'SKILL.md');
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
    }),
  );

  server.registerTool(
    'read_reference_file',
    {
      title: "Read a skill's file",
      description:
        'Reads one file of a skill (a path listed by load_skill, relative to the skill root, e.g. ' +
        '"references/forms.md"). Text comes back as text; binary files come back as an embedded resource.',
      inputSchema: READ_FILE_ARGUMENTS,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    instrumented(
      ctx,
      'read_reference_file',
      async ({ skill_name, file_name }: { skill_name: string; file_name: string }) => {
        const path = normalisePath(file_name);
        if (!path)
          return textResult(
            `"${file_name}" is not a path inside the skill; use a path listed by load_skill.`,
            true,
          );
        const skill = await withSkill(ctx, skill_name, () => ctx.library.describe(skill_name));
        if (isToolResult(skill)) return skill;
        const entry = skill.files.find((f) => f.path === path);
        if (!entry) {
          const near = closest(
            path,
            skill.files.map((f) => f.path),
          );
          return textResult(
            `Skill "${skill.name}" has no file "${path}".${near.length ? ` Did you mean: ${near.join(', ')}?` : ' Call load_skill to list its files.'}`,
            true,
          );
        }
        const file = await ctx.library.readFile(skill.name, path);
        if (isTextType(file.contentType) && isText(file.data)) {
          if (file.data.length > MAX_TEXT_BYTES) {
            return textResult(
              `${file.data.subarray(0, MAX_TEXT_BYTES).toString('utf8')}\n…[truncated: the file has ${formatSize(file.data.length)}; only the first ${formatSize(MAX_TEXT_BYTES)} are shown]`,
            );
          }
          return textResult(file.data.toString('utf8'));
        }
        if (file.data.length > MAX_BLOB_BYTES) {
          return textResult(
            `"${path}" is a binary file of ${formatSize(file.data.length)}, over the ${formatSize(MAX_BLOB_BYTES)} limit for returning it; use it from a script with run_shell_command instead.`,
            true,
          );
        }
        return {
          content: [
            {
              type: 'resource',
              resource: {
                uri: skillUri(skill.name, path),
                mimeType: file.contentType.split(';')[0]!,
                blob: file.data.toString('base64'),
              },
            },
          ],
        };
      },
    ),
  );

  server.registerTool(
    'search_skills',
    {
      title: 'Search skills',
      description:
        'Full-text search over skill names, descriptions and instructions, best match first. Use it instead of ' +
        'load_skill_metadata when there are many skills; then call load_skill with a name from the results.',
      inputSchema: SEARCH_ARGUMENTS,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    instrumented(ctx, 'search_skills', async ({ query, limit }: { query: string; limit?: number }) => {
      const results = await ctx.library.search(query, limit ?? 10);
      if (!results.length)
        return textResult(`No skill matches "${query}". Call load_skill_metadata to list all skills.`);
      const lines = results.map(
        (r) => `- ${r.name} (score ${r.score}): ${r.description.replace(/\s+/g, ' ').trim()}`,
      );
      return textResult(`Skills matching "${query}", best first:\n${lines.join('\n')}`);
    }),
  );
}
