// The console's names for the shapes of the public REST API (/api/v1), in its wire format (snake_case). Each is an
// alias into schema.gen.ts, which is generated from the OpenAPI document the server serves (`npm run api-types`),
// so it cannot drift from what the server answers: a shape that is wrong here is fixed in the server's schema.
// Only the console's own types are written out.
import type { components, operations } from './schema.gen';

type Schemas = components['schemas'];
type Operation = keyof operations;

type JsonContent<T> = T extends { content: { 'application/json': infer Json } } ? Json : never;

/** The JSON body of an operation's success answer (200, 201 or 202), by its operationId. */
export type Ok<Op extends Operation> = JsonContent<
  operations[Op]['responses'][Extract<keyof operations[Op]['responses'], 200 | 201 | 202>]
>;

/** The JSON request body of an operation, by its operationId. */
export type Body<Op extends Operation> = JsonContent<NonNullable<operations[Op]['requestBody']>>;

/** The query parameters of an operation, by its operationId. */
export type Query<Op extends Operation> = NonNullable<operations[Op]['parameters']['query']>;

export type User = Schemas['User'];
export type AuthResponse = Schemas['AuthResult'];
export type ServerInfo = Schemas['ServerInfo'];
/** The envelope of every error answer. */
export type ErrorEnvelope = Schemas['Error'];
/** An error's details: `fields` on a 400, `retry_after` on a 429 or 503, other members by the error's code. */
export type ErrorDetails = NonNullable<ErrorEnvelope['error']['details']>;

export type ApiToken = Schemas['ApiKey'];
export type CreatedApiToken = Schemas['NewApiKey'];
export type ApiKeyChanges = Body<'putApiKeysById'>;
/** What an API key may do (see README, "API keys"): the four permission flags of a key, edited together. */
export type KeyPermissions = Pick<
  ApiToken,
  'can_manage' | 'can_call_assistant' | 'can_use_mcp' | 'can_admin'
>;

export type Skill = Schemas['Skill'];
export type SkillVersion = Schemas['SkillVersion'];
export type UploadResult = Schemas['UploadResult'];
export type SkillFile = Schemas['SkillFile'];

export type AuditEntry = Schemas['AuditEvent'];
/** The audit log's filters (its paging parameters are the list's own). */
export type AuditQuery = Omit<Query<'getAudit'>, 'cursor' | 'limit'>;

export type ServerSettings = Schemas['Settings'];

export type ModelProvider = Schemas['ModelProvider'];
export type Assistant = Schemas['Assistant'];
/** An assistant's writable fields, every one optional (the form edits them one by one). */
export type AssistantInput = Body<'patchAssistantsById'>;
export type ChatSession = Schemas['ChatSession'];
export type AssistantUsage = Schemas['AssistantUsage'];

/** A pending OAuth authorization, as the consent page shows it. */
export type OAuthAuthorizationRequest = Schemas['OAuthAuthorizationRequest'];
/** An MCP client the user authorized through OAuth. */
export type OAuthConnection = Schemas['OAuthConnection'];

export type SearchResults = Schemas['SearchResults'];
export type SearchStatus = Schemas['SearchStatus'];

/** An upstream MCP server (`/api/v1/mcp-servers`); secret values come back masked. */
export type McpServer = Schemas['McpServer'];
