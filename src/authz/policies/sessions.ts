import type { TokenScope } from '../../shared/principal.js';

/**
 * A console session is its user: it holds every credential permission (managing through the REST API, MCP,
 * calling assistants), and admin powers exactly when the user is an admin. Logging in, refreshing and logging
 * out are public routes: the password or the refresh token is the proof.
 */
export const SESSION_SCOPES: readonly TokenScope[] = ['api', 'mcp', 'assistants'];
