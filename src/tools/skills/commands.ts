import { z } from 'zod';
import type { AuditEntry } from '../../audit/index.js';
import { loggableError } from '../../observability/index.js';
import type { RunResult, Sandbox } from '../../sandbox/index.js';
import { AppError } from '../../shared/errors.js';
import { contentTypeFor } from '../../skills/package/index.js';
import { ToolError } from '../errors.js';
import { withCachedJsonSchema } from '../schema.js';
import { defineTool, type ToolContext, type ToolProvider, type ToolResult } from '../tool.js';
import { withSkill } from './provider.js';
import type { SkillViews } from './views.js';

export interface CommandToolOptions {
  sandbox: Sandbox;
  /** The longest run a caller may ask for, in seconds (COMMAND_TIMEOUT). */
  maxTimeoutSeconds: number;
  /** The administrators' run-time switch; checked on every call. */
  enabled: () => Promise<boolean>;
  /** The audit log of runs (the multi-user server); absent in single-user stdio mode. */
  audit?: CommandAudit;
}

/**
 * Two-phase audit of a run: the record is written before the command starts (a run that cannot be recorded
 * does not start) and completed with the outcome afterwards. A record left `started` is a run whose end could
 * not be recorded.
 */
export interface CommandAudit {
  /** Writes the record of a run about to start; returns its id. Throws when it cannot be written. */
  start(entry: AuditEntry): Promise<number>;
  finish(
    id: number,
    outcome: { result: 'success' | 'failure'; details: Record<string, unknown> },
  ): Promise<void>;
}

const InputFile = z.union([
  z.object({ path: z.string().min(1).max(512), content: z.string().max(8 * 1024 * 1024) }).strict(),
  z.object({ path: z.string().min(1).max(512), content_base64: z.string().max(11 * 1024 * 1024) }).strict(),
]);

const formatSize = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KB`);

/** Text for the model: what ran, how it ended, its output, and the files it produced. */
function describeRun(result: RunResult): string {
  const lines = [
    result.timedOut
      ? `The command timed out after ${result.durationMs} ms and was stopped.`
      : result.exitCode === null
        ? `The command was killed by ${result.signal ?? 'a signal'} after ${result.durationMs} ms.`
        : `Exit code ${result.exitCode} after ${result.durationMs} ms.`,
  ];
  if (result.limitsHit.length) lines.push(`Limits hit: ${result.limitsHit.join(', ')}.`);
  lines.push('--- stdout ---', result.stdout || '(empty)', '--- stderr ---', result.stderr || '(empty)');
  if (result.changedFiles.length) {
    lines.push('--- files created or changed ---');
    for (const f of result.changedFiles) {
      lines.push(
        `- ${f.path} (${formatSize(f.size)})${f.data ? '' : ' — too large to return; not included'}`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * The `run_shell_command` tool: runs a command in a fresh sandboxed copy of the skill's current version, from
 * the caller's view of the library (a restricted credential runs only the skills it may see). Offered only
 * when commands are enabled in the configuration; the sandbox enforces the security level.
 */
export function commandTools(views: SkillViews, opts: CommandToolOptions): ToolProvider {
  const inputSchema = withCachedJsonSchema(
    z.object({
      skill_name: z.string().min(1).max(128).describe('The skill whose files the command runs in'),
      command: z.string().min(1).max(8192).describe('The command line, relative to the skill root'),
      files: z.array(InputFile).max(32).optional().describe('Input files to place in the working directory'),
      timeout_seconds: z
        .number()
        .int()
        .min(1)
        .max(opts.maxTimeoutSeconds)
        .optional()
        .describe(`Seconds before the command is stopped (at most ${opts.maxTimeoutSeconds})`),
    }),
  );
  const tool = defineTool({
    name: 'run_shell_command',
    title: "Run a skill's script",
    description:
      'Runs a command in a fresh, isolated copy of a skill (working directory = the skill root), e.g. ' +
      '"python3 scripts/extract.py input.pdf". Do not cd: paths are relative to the skill root. Pass input ' +
      'files with `files` ({path, content} for text, {path, content_base64} for binary); they are placed in ' +
      'the working directory first. Returns the exit code, stdout, stderr and the files the command created ' +
      'or changed (small ones are attached). There is no network access; the copy is discarded afterwards.',
    inputSchema,
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    permission: 'skills.run',
    call: (args, ctx) => runCommand(views, opts, args, ctx),
  });
  return { name: 'commands', tools: () => [tool] };
}

async function runCommand(
  views: SkillViews,
  opts: CommandToolOptions,
  args: {
    skill_name: string;
    command: string;
    files?: Array<{ path: string; content?: string; content_base64?: string }>;
    timeout_seconds?: number;
  },
  ctx: ToolContext,
): Promise<ToolResult> {
  if (!(await opts.enabled())) {
    throw new ToolError(
      'unavailable',
      'Running commands is switched off on this server by its administrators.',
    );
  }
  const library = views.libraryFor(ctx.principal);
  const copy = await withSkill(library, () => library.workingCopy(args.skill_name), '');
  if (!copy.runnable) {
    throw new ToolError(
      'forbidden',
      `The owner of "${args.skill_name}" has switched off running its commands.`,
    );
  }
  const inputFiles = (args.files ?? []).map((f) => ({
    path: f.path,
    data:
      f.content_base64 !== undefined
        ? Buffer.from(f.content_base64, 'base64')
        : Buffer.from(f.content ?? '', 'utf8'),
  }));
  const details = {
    skill: args.skill_name,
    version: copy.version,
    command: args.command,
    level: opts.sandbox.level,
  };
  const audit = await startAudit(ctx, opts.audit, args.skill_name, details);
  let result: RunResult;
  try {
    result = await opts.sandbox.run({
      userId: ctx.principal.userId,
      files: copy.files,
      inputFiles,
      command: args.command,
      timeoutMs: args.timeout_seconds ? args.timeout_seconds * 1000 : undefined,
      signal: ctx.signal,
    });
  } catch (err) {
    const refused = err instanceof AppError ? err.code : 'internal_error';
    await audit.finish('failure', { ...details, refused });
    throw err;
  }
  const ok = result.exitCode === 0 && !result.timedOut;
  await audit.finish(ok ? 'success' : 'failure', {
    ...details,
    exit_code: result.exitCode,
    signal: result.signal,
    timed_out: result.timedOut,
    duration_ms: result.durationMs,
    limits_hit: result.limitsHit,
  });
  const attachments = result.changedFiles
    .filter((f) => f.data)
    .map((f) => ({
      type: 'resource' as const,
      resource: {
        uri: `sandbox://${args.skill_name}/${f.path}`,
        mimeType: contentTypeFor(f.path, f.data).split(';')[0]!,
        blob: f.data!.toString('base64'),
      },
    }));
  return {
    content: [{ type: 'text', text: describeRun(result) }, ...attachments],
    ...(ok ? {} : { isError: true }),
  };
}

/**
 * Writes the `started` record of a run, failing closed: when it cannot be written the command is not run.
 * Returns how to complete it; a failure to complete is logged (the `started` record stays), not thrown, since
 * the run has happened and its output is the caller's.
 */
async function startAudit(
  ctx: ToolContext,
  audit: CommandAudit | undefined,
  skill: string,
  details: Record<string, unknown>,
): Promise<{ finish: (result: 'success' | 'failure', details: Record<string, unknown>) => Promise<void> }> {
  if (!audit) return { finish: async () => {} };
  let id: number;
  try {
    id = await audit.start({
      actorId: ctx.principal.userId,
      action: 'command.run',
      target: `skill:${skill}`,
      result: 'started',
      details,
    });
  } catch (err) {
    ctx.logger.error(
      { err: loggableError(err), user: ctx.principal.userId },
      'command not run: audit record failed',
    );
    throw new ToolError(
      'unavailable',
      'The run could not be recorded in the audit log, so it was not started; try again later.',
    );
  }
  return {
    async finish(result, outcome) {
      try {
        await audit.finish(id, { result, details: outcome });
      } catch (err) {
        ctx.logger.error(
          { err: loggableError(err), user: ctx.principal.userId, audit_id: id, result },
          'command run: audit outcome not recorded',
        );
      }
    },
  };
}
