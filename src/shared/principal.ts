export type TokenScope = 'mcp' | 'api';
export const TOKEN_SCOPES: readonly TokenScope[] = ['mcp', 'api'];

/**
 * Who is calling, resolved once per request from its credentials and passed explicitly down the call path.
 * Nothing below the HTTP/MCP edge may look a user up from ambient state.
 */
export interface Principal {
  userId: string;
  isAdmin: boolean;
  /** `session` for a JWT from the console, `api_token` for a personal API token. */
  via: 'session' | 'api_token';
  tokenId?: string;
  scopes: readonly TokenScope[];
  /**
   * Limits on what this credential may reach beyond its permissions: with `skills`, only those skills are
   * listed, loadable and runnable (enforced by the tool layer, `tools/skills/views.ts`). Absent: no limit.
   */
  restriction?: { skills?: readonly string[] };
}
