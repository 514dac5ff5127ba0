import { EventEmitter } from 'node:events';
import { loggableError } from '../observability/index.js';
import type { Metrics } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';
import { describeTextProblem, findUnsafeText, printablePath } from '../shared/text.js';
import { asToolError, INTERNAL_ERROR_MESSAGE, ToolError } from './errors.js';
import { principalMay } from './permissions.js';
import { openAiFunction, type OpenAiFunctionSpec } from './schema.js';
import type { Tool, ToolCallReport, ToolContext, ToolProvider, ToolResult, ToolsChange } from './tool.js';

/** The tools one caller may use, in provider order; built once per caller view and kept until a change. */
export interface ToolSet {
  readonly tools: readonly Tool[];
  get(name: string): Tool | undefined;
  /** The same tools as OpenAI function specs (each converted once). */
  openAi(): OpenAiFunctionSpec[];
}

export interface ToolRegistryOptions {
  metrics?: Metrics;
  /** How many caller views keep their tool set (the least recently built is dropped beyond that). */
  maxViews?: number;
  /** Single-user local mode (`skillport stdio`): there are no accounts, so calls are logged without a user. */
  local?: boolean;
}

/** What a caller's tool set depends on: their user, credential powers and restriction. */
const viewKey = (p: Principal) =>
  `${p.userId}\0${p.scopes.join(',')}\0${p.restriction?.skills?.join('\0') ?? '*'}\0${p.restriction?.servers?.join('\0') ?? '*'}\0${p.restriction?.compactTools ? 'c' : ''}`;

/** The same caller with every tool listed: what the meta-tools search and call in compact mode. */
export const fullView = (p: Principal): Principal =>
  p.restriction?.compactTools ? { ...p, restriction: { ...p.restriction, compactTools: false } } : p;

/**
 * Every tool a caller can use, from every provider, filtered by permission. Edges (MCP today, an OpenAI-style
 * chat loop next) list a caller's tools with `toolsFor` and run one with `invoke` (arguments the edge already
 * validated against the schema) or `call` (raw arguments). Emits `change` ({userId | null}) after a provider's
 * tool list changed, once the stale sets are dropped.
 */
export class ToolRegistry {
  readonly events = new EventEmitter<{ change: [ToolsChange] }>();
  private readonly providers: Array<{ provider: ToolProvider; compact: boolean }> = [];
  private readonly unsubscribe: Array<() => void> = [];
  private readonly sets = new Map<string, { userId: string; set: Promise<ToolSet> }>();
  private readonly metrics?: Metrics;
  private readonly maxViews: number;
  private readonly local: boolean;

  constructor(opts: ToolRegistryOptions = {}) {
    this.metrics = opts.metrics;
    this.local = opts.local ?? false;
    this.maxViews = opts.maxViews ?? 2_000;
    this.events.setMaxListeners(0);
  }

  /**
   * Adds a provider; everybody's tool list changes. `compact`: its tools are the ones listed to a credential
   * in compact mode (the meta-tools), which reaches every other tool through them.
   */
  register(provider: ToolProvider, opts: { compact?: boolean } = {}): void {
    this.providers.push({ provider, compact: opts.compact ?? false });
    const off = provider.onChange?.((change) => this.changed(change.userId));
    if (off) this.unsubscribe.push(off);
    this.changed(null);
  }

  /** The tools `principal` may use. */
  toolsFor(principal: Principal): Promise<ToolSet> {
    const key = viewKey(principal);
    const hit = this.sets.get(key);
    if (hit) {
      this.sets.delete(key); // re-insert: Map order is the LRU order
      this.sets.set(key, hit);
      return hit.set;
    }
    // The promise is kept from the start: a change while it loads drops it, and later callers build anew.
    const set = this.build(principal);
    set.catch(() => this.sets.get(key)?.set === set && this.sets.delete(key));
    if (this.sets.size >= this.maxViews) this.sets.delete(this.sets.keys().next().value!);
    this.sets.set(key, { userId: principal.userId, set });
    return set;
  }

  /**
   * Runs a tool with arguments already validated against its schema: refuses text no store can keep (NUL, lone
   * surrogates; the same rule as the HTTP API), reports user, tool, duration and outcome (never argument values:
   * to `ctx.report` for the edge's access line, or as a log line of its own),
   * counts it, and turns every failure into a `ToolError` (unexpected ones are logged, not described).
   */
  async invoke(tool: Tool, args: unknown, ctx: ToolContext): Promise<ToolResult> {
    const started = performance.now();
    let outcome: ToolCallReport['outcome'] = 'ok';
    const user = this.local ? null : ctx.principal.userId;
    try {
      const unsafe = findUnsafeText(args);
      if (unsafe) {
        throw new ToolError(
          'invalid_input',
          `Invalid argument ${printablePath(unsafe.path) || '(arguments)'}: it ${describeTextProblem(unsafe.problem)}.`,
        );
      }
      const result = await tool.call(args as never, ctx);
      if (result.isError) outcome = 'tool_error';
      return result;
    } catch (err) {
      const known = asToolError(err);
      if (known) {
        outcome = 'tool_error';
        throw known;
      }
      outcome = 'internal_error';
      // loggableError drops bound query parameters: a database error would otherwise carry argument values.
      ctx.logger.error({ err: loggableError(err), tool: tool.name, user }, 'tool failed');
      throw new ToolError('internal', INTERNAL_ERROR_MESSAGE);
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const label = tool.metricLabel ?? tool.name;
      this.metrics?.toolCalls.inc({ tool: label, outcome });
      this.metrics?.toolDuration.observe({ tool: label }, seconds);
      const report: ToolCallReport = { user, tool: tool.name, ms: Math.round(seconds * 1000), outcome };
      if (ctx.report) {
        ctx.report(report);
        ctx.logger.debug(report, 'tool call');
      } else ctx.logger.info(report, 'tool call');
    }
  }

  /** Runs a tool by name with raw arguments (an edge that does not validate them itself, e.g. a chat loop). */
  async call(name: string, args: unknown, ctx: ToolContext): Promise<ToolResult> {
    const tool = (await this.toolsFor(ctx.principal)).get(name);
    if (!tool) throw new ToolError('not_found', `There is no tool named "${name}".`);
    const parsed = tool.inputSchema.safeParse(args ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const at = issue.path.length ? `Invalid argument ${issue.path.join('.')}` : 'Invalid arguments';
      throw new ToolError('invalid_input', `${at}: ${issue.message}.`);
    }
    return this.invoke(tool, parsed.data, ctx);
  }

  async close(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    this.sets.clear();
  }

  private changed(userId: string | null): void {
    for (const [key, entry] of this.sets)
      if (userId === null || entry.userId === userId) this.sets.delete(key);
    this.events.emit('change', { userId });
  }

  private async build(principal: Principal): Promise<ToolSet> {
    const compact = principal.restriction?.compactTools === true;
    const providers = this.providers.filter((p) => !compact || p.compact);
    const lists = await Promise.all(providers.map((p) => p.provider.tools(principal)));
    const tools: Tool[] = [];
    const byName = new Map<string, Tool>();
    for (const tool of lists.flat()) {
      // Names are the tools' identity on every edge: the first provider to offer a name keeps it.
      if (byName.has(tool.name) || !principalMay(principal, tool.permission)) continue;
      byName.set(tool.name, tool);
      tools.push(tool);
    }
    let specs: OpenAiFunctionSpec[] | undefined;
    return {
      tools,
      get: (name) => byName.get(name),
      openAi: () => (specs ??= tools.map(openAiFunction)),
    };
  }
}
