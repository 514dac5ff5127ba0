import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/server';
import type { z } from 'zod';
import type { Logger } from '../observability/index.js';
import type { Principal } from '../shared/principal.js';

/**
 * A tool's answer: content blocks (text, embedded resources) and whether it is an error the model should see.
 * It is the MCP result shape, which the other edges (an OpenAI tool message) can render too.
 */
export type ToolResult = CallToolResult;

/**
 * What a caller must hold to see and call a tool. `principalMay` (`tools/permissions.ts`) is the one place that
 * maps a principal's credentials to these.
 */
export type ToolPermission = 'skills.read' | 'skills.run' | 'upstreams.call';

/** Everything a call knows about its circumstances; built by the edge that received the call. */
export interface ToolContext {
  /** Who is acting: the user, the credential used, its permissions and restrictions. */
  principal: Principal;
  /** Aborted when the caller gives up (the client cancelled, the connection closed). */
  signal: AbortSignal;
  /** The request's logger (already carries the request id when the edge has one). */
  logger: Logger;
  /** The edge's request id (HTTP `X-Request-Id`, or the protocol message id), for logs and audit. */
  requestId: string;
  /**
   * Given by an edge that writes one access-log line per request (HTTP `/mcp`): the call's summary goes into that
   * line, and the registry's own "tool call" line drops to `debug`. Without it the registry logs at `info`.
   */
  report?: (call: ToolCallReport) => void;
}

/** What the registry tells about each call: never argument values. */
export interface ToolCallReport {
  user: string | null;
  tool: string;
  ms: number;
  outcome: 'ok' | 'tool_error' | 'internal_error';
}

/** One tool, whatever edge serves it (MCP today; an OpenAI-compatible chat loop next). */
export interface Tool<S extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  /** Written for a model: when to use the tool and what comes back. */
  description: string;
  /** Arguments; build it once (module level or provider construction), wrapped in `withCachedJsonSchema`. */
  inputSchema: S;
  annotations: ToolAnnotations;
  permission: ToolPermission;
  /**
   * The `tool` label of the call metrics, when not `name`: tools named from outside (an upstream server's list)
   * share one label so the metric's series stay bounded; their per-server detail has metrics of its own.
   */
  metricLabel?: string;
  /**
   * Runs the tool with arguments already validated against `inputSchema`. Throws `ToolError` for a failure the
   * model can act on; anything else is an internal error and is not described to the caller.
   */
  call(args: z.output<S>, ctx: ToolContext): Promise<ToolResult>;
}

/** Declares a tool with its argument types inferred from its schema. */
export const defineTool = <S extends z.ZodObject>(tool: Tool<S>): Tool => tool as unknown as Tool;

export const textResult = (text: string, isError = false): ToolResult => ({
  content: [{ type: 'text', text }],
  ...(isError ? { isError: true } : {}),
});

/** A change to the tools one user (or, with null, everybody) can see. */
export interface ToolsChange {
  userId: string | null;
}

/**
 * A source of tools: the skill library's tools and `run_shell_command` today; each upstream MCP server and
 * meta-tools later. The registry asks each provider once per caller view and keeps the answer until the
 * provider reports a change.
 */
export interface ToolProvider {
  /** For logs: which provider offered a tool. */
  readonly name: string;
  /** The tools this provider offers to `principal` (before the registry's permission filter). */
  tools(principal: Principal): readonly Tool[] | Promise<readonly Tool[]>;
  /**
   * Subscribes to changes of this provider's tool list; returns the unsubscribe function. Providers whose list
   * never changes leave it out.
   */
  onChange?(listener: (change: ToolsChange) => void): () => void;
}
