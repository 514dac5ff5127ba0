import { OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../shared/pagination.js';
import { validationHook } from './errors.js';
import { refusalOf } from '../authz/index.js';
import { declaredPermission } from './middleware.js';
import type { AppEnv } from './types.js';

export { z };

/**
 * Every room builds its routes on this, so validation errors look the same everywhere, and so every route is
 * documented with the access it really has: the permission its guard declares (`x-permission`), the bearer
 * scheme behind `requirePermission` (with the policy's refusal as its 403), `security: []` for a `publicRoute`.
 * Routes added later are covered without anyone having to remember it; `serveOpenApiDocument` adds the 401/403
 * answers, and the permission matrix test fails on a route that declares nothing.
 */
export const createRouter = () => {
  const router = new OpenAPIHono<AppEnv>({ defaultHook: (result, c) => validationHook(result as never, c) });
  const register = router.openapi;
  router.openapi = ((route: RouteConfig, ...rest: unknown[]) =>
    (register as (...args: unknown[]) => unknown)(
      withDocumentedAccess(route),
      ...rest,
    )) as typeof router.openapi;
  return router;
};

function withDocumentedAccess(route: RouteConfig): RouteConfig {
  const permission = [route.middleware ?? []].flat().map(declaredPermission).find(Boolean);
  const declared = { ...route, [PERMISSION_EXTENSION]: permission ?? null };
  if (!permission || permission === 'public') return { ...declared, security: route.security ?? [] };
  const refusal = refusalOf(permission);
  return {
    ...declared,
    security: route.security ?? bearerSecurity,
    responses: refusal
      ? { ...route.responses, 403: errorResponse(`${refusal} (\`forbidden\`)`) }
      : route.responses,
  };
}

/**
 * The OpenAPI extension naming what a route declared: an action of `authz/` (`users.list`), `public`, or null
 * when it declared nothing (the permission matrix test fails on such a route).
 */
export const PERMISSION_EXTENSION = 'x-permission';
const INSUFFICIENT_SCOPE = '`insufficient_scope`: an API token without the `api` scope';

/** One offending field of an invalid request (`details.fields`), so a client can show the message beside it. */
const FieldErrorSchema = z
  .object({
    path: z.string().openapi({ description: 'The field, dotted (`restriction.skills`), or `(body)`' }),
    in: z
      .string()
      .optional()
      .openapi({ description: 'Where the field is (`body`, `path`, `query`), when known' }),
    message: z.string(),
  })
  .openapi('FieldError');

/** Always an object; the members below are the ones a client can act on, the rest depend on the error's code. */
const ErrorDetailsSchema = z
  .object({
    fields: z.array(FieldErrorSchema).optional().openapi({ description: 'The offending fields (400)' }),
    retry_after: z
      .number()
      .optional()
      .openapi({ description: 'Seconds to wait before retrying (429, 503; also sent as `Retry-After`)' }),
  })
  .catchall(z.unknown());

export const ErrorSchema = z
  .object({
    success: z.literal(false),
    error: z.object({ code: z.string(), message: z.string(), details: ErrorDetailsSchema.optional() }),
    timestamp: z.string(),
  })
  .openapi('Error');

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, errorResponse(ERROR_TEXT[s] ?? 'Error')]));

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request (validation_error or invalid_input; details.fields names the fields)',
  401: 'Missing or invalid credentials',
  403: 'Not allowed (`forbidden`)',
  404: 'Not found',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type: send the body as one of the types listed for this operation',
  422: 'Unprocessable content',
  429: 'Rate limited',
  503: 'Temporarily unavailable (e.g. `rate_limiter_unavailable`, `database_unavailable`); retry after `Retry-After` seconds',
};

export const json = <T extends z.ZodType>(schema: T, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const PageQuery = z.object({
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export const bearerSecurity = [{ bearer: [] }];

type DocumentConfig = Parameters<OpenAPIHono['getOpenAPI31Document']>[0];
type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>;
type Operation = {
  operationId?: string;
  parameters?: unknown[];
  requestBody?: unknown;
  security?: Array<Record<string, string[]>>;
  responses: Record<string, { description: string }>;
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * Serves the app's OpenAPI 3.1 document at `path`, completed once (routes are fixed after start-up) with what
 * follows from an operation's method, path, input and security alone: an `operationId` when it has none; the 400
 * answer of any operation with input; the 413/415 answers of any operation with a body (the JSON body limit and
 * the media-type checks apply to all of them); the 401 and 403 (`insufficient_scope`) answers of any operation
 * that needs a bearer token.
 */
export function serveOpenApiDocument(app: OpenAPIHono<AppEnv>, path: string, config: DocumentConfig): void {
  let document: OpenApiDocument | undefined;
  (app as unknown as Hono<AppEnv>).get(path, (c) => {
    document ??= completeDocument(app.getOpenAPI31Document(config));
    return c.json(document);
  });
}

function completeDocument(doc: OpenApiDocument): OpenApiDocument {
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = (item as Partial<Record<string, Operation>>)[method];
      if (!op) continue;
      op.operationId ??= operationIdFor(method, path);
      const answers = op.responses;
      if (op.parameters?.length || op.requestBody) answers[400] ??= errorRef(ERROR_TEXT[400]!);
      if (op.requestBody) {
        answers[413] ??= errorRef(ERROR_TEXT[413]!);
        answers[415] ??= errorRef(ERROR_TEXT[415]!);
      }
      const security = op.security ?? doc.security ?? [];
      if (security.length && security.every((requirement) => 'bearer' in requirement)) {
        answers[401] ??= errorRef(ERROR_TEXT[401]!);
        const forbidden = answers[403]?.description;
        answers[403] = errorRef(forbidden ? `${forbidden}, or ${INSUFFICIENT_SCOPE}` : INSUFFICIENT_SCOPE);
      }
    }
  }
  return doc;
}

const errorRef = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** `get /api/v1/skills/{name}/versions` → `getSkillsByNameVersions`: stable, and unique as method + path are. */
export function operationIdFor(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v\d+(?=\/)/, '')
    .split('/')
    .filter(Boolean)
    .flatMap((segment) => {
      const param = /^\{(.+)\}$/.exec(segment)?.[1];
      return param ? ['by', ...param.split(/[^A-Za-z0-9]+/)] : segment.split(/[^A-Za-z0-9]+/);
    })
    .filter(Boolean);
  return [method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
}
