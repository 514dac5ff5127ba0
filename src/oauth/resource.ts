import type { Context } from 'hono';

/** The one scope an OAuth client may ask for: MCP use (`Principal.scopes` = `['mcp']`). */
export const MCP_SCOPE = 'mcp';
export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';
/** Where the authorization server's endpoints live. */
export const OAUTH_PREFIX = '/oauth';
/** Where a pending authorization's consent starts (the library's interaction URL). */
export const interactionPath = (uid: string) => `${OAUTH_PREFIX}/interaction/${uid}`;

/**
 * This server's public origin: PUBLIC_URL when set (behind a proxy it must be), else the request's own. The
 * OAuth issuer and the MCP resource both derive from it, so a token is only good at the origin it was issued for.
 */
export function publicBase(publicUrl: string | undefined, requestUrl: string): string {
  return (publicUrl ? new URL(publicUrl).origin : new URL(requestUrl).origin).replace(/\/$/, '');
}

/** The MCP server's canonical resource URI (RFC 8707), the audience of every token this server issues. */
export const mcpResource = (base: string): string => `${base}/mcp`;

/** The Protected Resource Metadata document's URL for `/mcp` (RFC 9728 path-suffixed form). */
export const resourceMetadataUrl = (base: string): string => `${base}${PROTECTED_RESOURCE_PATH}/mcp`;

/** RFC 9728 Protected Resource Metadata for the MCP endpoint. */
export function protectedResourceMetadata(base: string) {
  return {
    resource: mcpResource(base),
    authorization_servers: [base],
    scopes_supported: [MCP_SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: 'Skillport MCP',
    resource_documentation: `${base}/api/docs`,
  };
}

/** What `requireAuth` needs to speak for the MCP endpoint: its resource and where its metadata is. */
export function mcpResourceOf(publicUrl: string | undefined) {
  return (c: Context) => {
    const base = publicBase(publicUrl, c.req.url);
    return { resource: mcpResource(base), metadataUrl: resourceMetadataUrl(base) };
  };
}
