/**
 * What a credential may use, in the names the policies' `scope` and `requirePermission` check: `api` = manage the owner's resources through
 * the REST API (an API key's `can_manage`), `mcp` = MCP (`can_use_mcp`), `assistants` = call the owner's
 * assistants through the OpenAI-compatible API (`can_call_assistant`). Console sessions hold all three.
 */
export type TokenScope = 'mcp' | 'api' | 'assistants';
/** The scopes of the old `/api/v1/tokens` shape (kept for its clients). */
export type LegacyTokenScope = 'mcp' | 'api';
export const TOKEN_SCOPES: readonly LegacyTokenScope[] = ['mcp', 'api'];

/**
 * Who is calling, resolved once per request from its credentials and passed explicitly down the call path.
 * Nothing below the HTTP/MCP edge may look a user up from ambient state.
 */
export interface Principal {
  userId: string;
  /**
   * Acting with admin powers. A console session: the user is an admin. An API key: the user is an admin
   * and the key was given `can_admin` (an admin's key carries no admin powers otherwise).
   */
  isAdmin: boolean;
  /** `session` for a JWT from the console, `api_token` for a personal API key, `oauth` for an OAuth access token (`tokenId` = its grant). */
  via: 'session' | 'api_token' | 'oauth';
  tokenId?: string;
  /** The credential's permissions (see `TokenScope`). */
  scopes: readonly TokenScope[];
  /** The assistants an API key may call; absent or empty = all of the owner's assistants. */
  assistantIds?: readonly string[];
  /**
   * Limits on what this credential may reach beyond its permissions: with `skills`, only those skills are
   * listed, loadable and runnable (enforced by the tool layer, `tools/skills/views.ts`); with `servers`, only
   * those upstream MCP servers' tools (by server name; `upstreams/provider.ts`). Absent: no limit.
   * With `compactTools`, the credential is listed only the meta-tools (search_tools, call_tool) and reaches
   * every other tool it may use through them (`ToolRegistry`): the "small context" mode.
   */
  restriction?: { skills?: readonly string[]; servers?: readonly string[]; compactTools?: boolean };
}
