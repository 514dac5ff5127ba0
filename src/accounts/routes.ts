import { createRoute } from '@hono/zod-openapi';
import {
  createRouter,
  errorResponses,
  json,
  jsonBody,
  PageQuery,
  pageOf,
  bearerSecurity,
  z,
  publicRoute,
  requirePermission,
  type PermissionGuard,
} from '../http/index.js';
import { apiKeyRoutes } from './api-key-routes.js';
import type { Authenticator } from './authenticate.js';
import type { ApiTokens } from './api-tokens.js';
import { PASSWORD_MAX_LENGTH } from './passwords.js';
import type { AccountsService } from './service.js';

const Email = z.string().trim().max(254).pipe(z.email()).openapi({ example: 'ada@example.com' });
const Username = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$/, '3–32 letters, digits, _ or -, starting with a letter or digit')
  .openapi({ example: 'ada' });
const Password = z.string().min(1).max(PASSWORD_MAX_LENGTH);

const User = z
  .object({
    id: z.uuid(),
    email: z.string(),
    username: z.string(),
    is_admin: z.boolean(),
    disabled: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('User');

const AuthResult = z
  .object({
    user: User,
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
  })
  .openapi('AuthResult');

const IdParam = z.object({ id: z.uuid() });

export interface AccountsRoutesDeps {
  accounts: AccountsService;
  apiTokens: ApiTokens;
  auth: Authenticator;
}

/** What each group of these routes gets: the deps, and the permission guard built once for all of them. */
type GroupDeps = AccountsRoutesDeps & { guard: PermissionGuard };

export function accountsRoutes(deps: AccountsRoutesDeps) {
  const app = createRouter();
  const groups: GroupDeps = { ...deps, guard: (action) => requirePermission(deps.auth, action) };
  app.route('/', authRoutes(groups));
  app.route('/', ownAccountRoutes(groups));
  app.route('/', userListRoutes(groups));
  app.route('/', oneUserRoutes(groups));
  app.route('/', apiKeyRoutes(deps));
  return app;
}

/** `/auth`: sign up, log in, refresh and log out (public routes: no bearer token). */
function authRoutes({ accounts }: GroupDeps) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/auth/register',
      tags: ['auth'],
      middleware: [publicRoute] as const,
      summary: 'Create an account (the first account becomes admin)',
      request: { body: jsonBody(z.object({ email: Email, username: Username, password: Password })) },
      responses: { 201: json(AuthResult, 'Registered'), ...errorResponses(400, 403, 409, 429, 503) },
    }),
    async (c) => c.json(await accounts.register(c.req.valid('json'), c.get('clientIp')), 201),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/auth/login',
      tags: ['auth'],
      middleware: [publicRoute] as const,
      summary: 'Log in with email or username',
      request: { body: jsonBody(z.object({ login: z.string().trim().min(1).max(254), password: Password })) },
      responses: { 200: json(AuthResult), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => c.json(await accounts.login(c.req.valid('json'), c.get('clientIp')), 200),
  );

  const RefreshBody = z.object({ refresh_token: z.string().min(1).max(256) });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/auth/refresh',
      tags: ['auth'],
      middleware: [publicRoute] as const,
      summary: 'Exchange a refresh token for new tokens (rotates the refresh token)',
      request: { body: jsonBody(RefreshBody) },
      responses: { 200: json(AuthResult), ...errorResponses(400, 401) },
    }),
    async (c) => c.json(await accounts.refresh(c.req.valid('json').refresh_token, c.get('clientIp')), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/auth/logout',
      tags: ['auth'],
      middleware: [publicRoute] as const,
      summary: 'End the session of a refresh token: its tokens and access tokens stop working',
      request: { body: jsonBody(RefreshBody) },
      responses: { 204: { description: 'Logged out' }, ...errorResponses(400) },
    }),
    async (c) => {
      await accounts.logout(c.req.valid('json').refresh_token, c.get('clientIp'));
      return c.body(null, 204);
    },
  );

  return app;
}

/** `/users/me`: your own account (read, change, change password, delete). */
function ownAccountRoutes({ accounts, guard }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/users/me',
      tags: ['users'],
      summary: 'Your account',
      security: bearerSecurity,
      middleware: [guard('users.read-self')] as const,
      responses: { 200: json(User), ...errorResponses(401) },
    }),
    async (c) => c.json(await accounts.me(c.get('principal')), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/users/me',
      tags: ['users'],
      summary: 'Change your email or username',
      security: bearerSecurity,
      middleware: [guard('users.update-self')] as const,
      request: { body: jsonBody(z.object({ email: Email.optional(), username: Username.optional() })) },
      responses: { 200: json(User), ...errorResponses(400, 401, 409) },
    }),
    async (c) =>
      c.json(await accounts.updateMe(c.get('principal'), c.req.valid('json'), c.get('clientIp')), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/users/me/password',
      tags: ['users'],
      summary: 'Change password (ends every console session, this one too; API tokens stay valid)',
      security: bearerSecurity,
      middleware: [guard('users.change-password')] as const,
      request: { body: jsonBody(z.object({ current_password: Password, new_password: Password })) },
      responses: { 204: { description: 'Changed' }, ...errorResponses(400, 401, 429, 503) },
    }),
    async (c) => {
      await accounts.changePassword(c.get('principal'), c.req.valid('json'), c.get('clientIp'));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/users/me',
      tags: ['users'],
      summary: 'Delete the account and everything it owns',
      security: bearerSecurity,
      middleware: [guard('users.delete-self')] as const,
      request: { body: jsonBody(z.object({ password: Password })) },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 429, 503) },
    }),
    async (c) => {
      await accounts.deleteAccount(c.get('principal'), c.req.valid('json').password, c.get('clientIp'));
      return c.body(null, 204);
    },
  );

  return app;
}

/** `/users` (admin): list users, create one. */
function userListRoutes({ accounts, guard }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/users',
      tags: ['admin'],
      summary: 'List users (admin)',
      security: bearerSecurity,
      middleware: [guard('users.list')] as const,
      request: { query: PageQuery.extend({ q: z.string().max(254).optional() }) },
      responses: { 200: json(pageOf(User)), ...errorResponses(400, 401, 403) },
    }),
    async (c) => c.json(await accounts.listUsers(c.get('principal'), c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/users',
      tags: ['admin'],
      summary: 'Create a user (admin; works with SIGNUP=closed)',
      security: bearerSecurity,
      middleware: [guard('users.create')] as const,
      request: {
        body: jsonBody(
          z.object({
            email: Email,
            username: Username,
            password: Password,
            is_admin: z.boolean().default(false),
          }),
        ),
      },
      responses: { 201: json(User), ...errorResponses(400, 401, 403, 409) },
    }),
    async (c) => {
      const { is_admin, ...input } = c.req.valid('json');
      const user = await accounts.createUser(input, {
        isAdmin: is_admin,
        actorId: c.get('principal').userId,
        ip: c.get('clientIp'),
        publicSignup: false,
      });
      return c.json(user, 201);
    },
  );

  return app;
}

/** `/users/{id}` (admin): change a user, delete one, set their password. */
function oneUserRoutes({ accounts, guard }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/users/{id}',
      tags: ['admin'],
      summary: 'Disable/enable a user or change admin rights (admin)',
      security: bearerSecurity,
      middleware: [guard('users.update')] as const,
      request: {
        params: IdParam,
        body: jsonBody(z.object({ disabled: z.boolean().optional(), is_admin: z.boolean().optional() })),
      },
      responses: { 200: json(User), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) =>
      c.json(
        await accounts.adminUpdateUser(
          c.get('principal'),
          c.req.valid('param').id,
          c.req.valid('json'),
          c.get('clientIp'),
        ),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/users/{id}',
      tags: ['admin'],
      summary: 'Delete a user and everything they own (admin; not yourself, not the last admin)',
      security: bearerSecurity,
      middleware: [guard('users.delete')] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      await accounts.adminDeleteUser(c.get('principal'), c.req.valid('param').id, c.get('clientIp'));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/users/{id}/password',
      tags: ['admin'],
      summary: "Set a user's password and end all their console sessions (admin; not yourself)",
      security: bearerSecurity,
      middleware: [guard('users.set-password')] as const,
      request: { params: IdParam, body: jsonBody(z.object({ password: Password })) },
      responses: { 204: { description: 'Password set' }, ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      await accounts.adminSetPassword(
        c.get('principal'),
        c.req.valid('param').id,
        c.req.valid('json').password,
        c.get('clientIp'),
      );
      return c.body(null, 204);
    },
  );

  return app;
}
