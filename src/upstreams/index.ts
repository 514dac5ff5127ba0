/** Public surface of the upstreams room: upstream MCP servers as a resource, their supervisor, their tools. */
export { UpstreamsService, type ServerView, type ServerInput, type ServerChange } from './service.js';
export { UpstreamSupervisor, type SupervisorOptions } from './supervisor.js';
export { DEFAULT_TIMINGS, type ConnectionTimings } from './connection.js';
export { upstreamTools, indexableUpstreamTools, type IndexableTool } from './provider.js';
export type { StdioPolicy } from './policy.js';
export { exposedToolName, exposedNames, EXPOSED_NAME } from './names.js';
export { checkUrl, guardedFetch, type UrlPolicy } from './ssrf.js';
export { Leases, InternalTokens } from './lease.js';
