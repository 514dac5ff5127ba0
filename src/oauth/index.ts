export { OAuthConnections, type ConnectionView } from './connections.js';
export { OAuthServer } from './server.js';
export { mcpResourceOf } from './resource.js';
