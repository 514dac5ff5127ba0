import type { Principal } from '../shared/principal.js';

/** Who may add stdio servers (an admin setting, `upstream_stdio`): programs that run on the host, sandboxed. */
export type StdioPolicy = 'admins' | 'users' | 'off';

/** What the policy decisions need to know about a server. */
export interface ServerFacts {
  ownerId: string;
  shared: boolean;
  transport: 'stdio' | 'sse' | 'streamable-http';
}

/**
 * Every "who may do what" decision about upstream MCP servers. Plain predicates; `UpstreamsService` calls them,
 * and a server the actor may not see answers exactly like a missing one.
 */
export const upstreamPolicy = {
  /** Sees (lists, reads, uses the tools of): their own servers and shared ones (unless hidden, see below). */
  see: (actor: Principal, s: ServerFacts) => s.ownerId === actor.userId || s.shared || actor.isAdmin,
  /** Changes, deletes, starts, stops, reads the stderr of: the owner; an admin any server. */
  manage: (actor: Principal, s: ServerFacts) => s.ownerId === actor.userId || actor.isAdmin,
  /** Creates a server of this transport: HTTP/SSE everyone; stdio as the setting says (default admins). */
  create: (actor: Principal, transport: ServerFacts['transport'], stdio: StdioPolicy) =>
    transport !== 'stdio' || stdio === 'users' || (stdio === 'admins' && actor.isAdmin),
  /** Offers a server to everyone: admins only. */
  share: (actor: Principal) => actor.isAdmin,
  /** Gives a stdio server network access (`egress`/`host`): admins only. */
  grantNetwork: (actor: Principal) => actor.isAdmin,
  /** Hides a shared server from their own view: anyone who sees it and does not own it. */
  hide: (actor: Principal, s: ServerFacts) => s.shared && s.ownerId !== actor.userId,
  /** Uses a server's tools through a credential: a key restricted to servers reaches only those. */
  callThrough: (actor: Principal, serverName: string) =>
    !actor.restriction?.servers || actor.restriction.servers.includes(serverName),
};
