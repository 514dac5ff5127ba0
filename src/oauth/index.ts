export { OAuthConnections, type ConnectionView } from './connections.js';
export { OAuthServer } from './server.js';
export { mcpResource, mcpResourceOf, publicBase } from './resource.js';
