/**
 * Public surface of the HTTP shell: middleware (request context, body limits, URL checks, the DNS-rebinding
 * guard, the permission guard every route declares), the error envelope and its mappers (HTTP, OpenAI), and the
 * OpenAPI route helpers. It mounts no room's routes: the composition root does (`server/http-app.ts`).
 */
export { accessLog, requestIdFrom, type AccessLog, type ToolCallDetail } from './access-log.js';
export { dnsRebindingGuard, hostAndOriginAllowed } from './dns-rebinding.js';
export { domainErrorResponse, errorBody, errorResponse, handleError, validationHook } from './errors.js';
export {
  declaredPermission,
  jsonBodyLimit,
  publicRoute,
  requestContext,
  requirePermission,
  type PermissionGuard,
  wellFormedUrl,
} from './middleware.js';
export { addSecurityHeaders, securityHeaders } from './security-headers.js';
export { toOpenAiError, type OpenAiError, type OpenAiErrorBody } from './openai-errors.js';
export {
  bearerSecurity,
  createRouter,
  errorResponses,
  ErrorSchema,
  json,
  jsonBody,
  operationIdFor,
  PageQuery,
  pageOf,
  PERMISSION_EXTENSION,
  serveOpenApiDocument,
  z,
} from './openapi.js';
export { documentSystemRoutes } from './system-docs.js';
export type { AppEnv } from './types.js';
