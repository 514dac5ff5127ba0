import { anyone, definePolicy } from '../authz/policy.js';

/** Who may add stdio servers (an admin setting, `upstream_stdio`): programs that run on the host, sandboxed. */
export type StdioPolicy = 'admins' | 'users' | 'off';

/** What the policy decisions need to know about a server. */
export interface ServerFacts {
  ownerId: string;
  shared: boolean;
  transport: 'stdio' | 'sse' | 'streamable-http';
}

/**
 * Every "who may do what" decision about upstream MCP servers (the `mcp-servers` resource of `authz/`). Plain
 * predicates; `UpstreamsService` and the tool provider ask them, and a server the actor may not see answers
 * exactly like a missing one.
 */
export const mcpServersPolicy = definePolicy({
  scope: 'api',
  rules: {
    /** The REST routes of upstream servers (each then decides per server). */
    use: anyone,
    /** Sees (lists, reads, uses the tools of): their own servers and shared ones (unless hidden). */
    see: (actor, s?: ServerFacts) => !!s && (s.ownerId === actor.userId || s.shared || actor.isAdmin),
    /** Changes, deletes, starts, stops, reads the stderr of: the owner; an admin any server. */
    manage: (actor, s?: ServerFacts) => !!s && (s.ownerId === actor.userId || actor.isAdmin),
    /** Creates a server of this transport: HTTP/SSE everyone; stdio as the setting says (default admins). */
    create: (actor, r?: { transport: ServerFacts['transport']; stdio: StdioPolicy }) =>
      !!r && (r.transport !== 'stdio' || r.stdio === 'users' || (r.stdio === 'admins' && actor.isAdmin)),
    /** Offers a server to everyone: admins only. */
    share: (actor) => actor.isAdmin,
    /** Gives a stdio server network access (`egress`/`host`): admins only. */
    grantNetwork: (actor) => actor.isAdmin,
    /** Hides a shared server from their own view: anyone who sees it and does not own it. */
    hide: (actor, s?: ServerFacts) => !!s && s.shared && s.ownerId !== actor.userId,
    /** Uses a server's tools through a credential: a key restricted to servers reaches only those. */
    callThrough: (actor, serverName?: string) =>
      !actor.restriction?.servers || (!!serverName && actor.restriction.servers.includes(serverName)),
  },
});
