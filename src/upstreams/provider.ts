// Branded classes: they match the client SDK's errors, which is loaded only with a connection (client-sdk.ts).
import { SdkError, SdkErrorCode, ProtocolError } from '@modelcontextprotocol/server';
import type { Principal } from '../shared/principal.js';
import {
  givenJsonSchema,
  ToolError,
  type Tool,
  type ToolProvider,
  type ToolsChange,
} from '../tools/index.js';
import { UpstreamUnavailable } from './connection.js';
import { exposedNames } from './names.js';
import { may } from '../authz/index.js';
import { toolAllowed, type UpstreamsService } from './service.js';
import type { UpstreamSupervisor } from './supervisor.js';
import type { CatalogTool } from './types.js';

/**
 * The tools of every upstream server a caller may use, as tools of the tool layer: `<server>__<tool>` (always a
 * valid model-API name, `names.ts`), the server's allow/deny rules and description overrides applied, a key's
 * server restriction enforced here (for every edge), calls forwarded with the caller's cancellation and results
 * passed through as the upstream gave them (text, images, embedded resources, `isError`).
 */
export function upstreamTools(service: UpstreamsService, supervisor: UpstreamSupervisor): ToolProvider {
  /** Tool objects are kept per server and catalog entry, so a caller's list does not churn between builds. */
  const cache = new Map<string, { source: CatalogTool; description: string; tool: Tool }>();
  return {
    name: 'upstreams',
    async tools(principal: Principal) {
      const tools: Tool[] = [];
      const taken = new Set<string>();
      // Own servers first: a user's own server keeps its names over a shared one of the same name.
      const servers = (await service.usableBy(principal.userId)).sort(
        (a, b) => Number(a.shared) - Number(b.shared),
      );
      for (const server of servers) {
        if (!may(principal, 'mcp-servers.callThrough', server.name)) continue;
        const names = exposedNames(
          server.name,
          server.catalog.map((t) => t.name),
        );
        for (const source of server.catalog) {
          const exposed = names.get(source.name);
          if (!exposed || taken.has(exposed) || !toolAllowed(server.tools, source.name)) continue;
          taken.add(exposed);
          const description = server.tools.descriptions[source.name] ?? source.description ?? '';
          const key = `${server.id}\0${exposed}`;
          let entry = cache.get(key);
          if (!entry || entry.source !== source || entry.description !== description) {
            entry = {
              source,
              description,
              tool: toTool(supervisor, server.id, exposed, source, description),
            };
            cache.set(key, entry);
          }
          tools.push(entry.tool);
        }
      }
      return tools;
    },
    onChange(listener: (change: ToolsChange) => void) {
      const relay = (change: { serverId: string; userId: string | null }) => {
        for (const key of cache.keys()) if (key.startsWith(`${change.serverId}\0`)) cache.delete(key);
        listener({ userId: change.userId });
      };
      service.events.on('change', relay);
      return () => service.events.off('change', relay);
    },
  };
}

/** An upstream tool as search indexes it: owned by its server's owner, or by nobody (everybody's) when shared. */
export interface IndexableTool {
  ownerId: string | null;
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/**
 * Every enabled server's tools under their exposed names, rules and description overrides applied, for search.
 * Who may call which is not decided here: search keeps each caller to their own tool list.
 */
export async function indexableUpstreamTools(service: UpstreamsService): Promise<IndexableTool[]> {
  const out: IndexableTool[] = [];
  /** One document per owner and name: of two shared servers of one name, the first (as `tools()` lists them). */
  const taken = new Set<string>();
  for (const server of await service.enabledCatalogs()) {
    const names = exposedNames(
      server.name,
      server.catalog.map((t) => t.name),
    );
    for (const source of server.catalog) {
      const exposed = names.get(source.name);
      const ownerId = server.shared ? null : server.ownerId;
      const key = `${ownerId ?? '*'}/${exposed}`;
      if (!exposed || taken.has(key) || !toolAllowed(server.tools, source.name)) continue;
      taken.add(key);
      out.push({
        ownerId,
        name: exposed,
        description: server.tools.descriptions[source.name] ?? source.description ?? '',
        inputSchema: source.inputSchema,
      });
    }
  }
  return out;
}

function toTool(
  supervisor: UpstreamSupervisor,
  serverId: string,
  exposed: string,
  source: CatalogTool,
  description: string,
): Tool {
  return {
    name: exposed,
    title: source.title ?? source.name,
    description,
    inputSchema: givenJsonSchema(source.inputSchema),
    annotations: source.annotations ?? {},
    permission: 'upstreams.call',
    metricLabel: 'upstream',
    async call(args, ctx) {
      try {
        return await supervisor.call(serverId, source.name, args as Record<string, unknown>, ctx.signal);
      } catch (err) {
        throw asToolError(err);
      }
    },
  };
}

/** Upstream failures as the tool layer's typed errors: by type and code, never by message text. */
function asToolError(err: unknown): unknown {
  if (err instanceof UpstreamUnavailable) return new ToolError('unavailable', err.message);
  if (SdkError.isInstance(err)) {
    const code = (err as SdkError).code;
    if (code === SdkErrorCode.RequestTimeout)
      return new ToolError('unavailable', 'The MCP server did not answer in time.');
    return new ToolError('unavailable', `The MCP server could not be reached (${code}).`);
  }
  // A JSON-RPC error the upstream answered with (unknown tool, invalid arguments): its own words for the model.
  if (err instanceof ProtocolError) return new ToolError('invalid_input', err.message);
  return err;
}
