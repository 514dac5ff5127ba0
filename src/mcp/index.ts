/** Public surface of the MCP room: the MCP edge (Streamable HTTP, legacy SSE, stdio) over the tool layer. */
export { mountMcp, type SseRelay } from './http.js';
export { buildMcpServer, toolErrorResult } from './server.js';
export { runStdioCommand, type FolderToolProvider } from './stdio.js';
