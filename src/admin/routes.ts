import { createRoute } from '@hono/zod-openapi';
import type { Authenticator } from '../accounts/authenticate.js';
import { requireAdmin, requireAuth } from '../http/middleware.js';
import { bearerSecurity, createRouter, errorResponses, json, jsonBody, z } from '../http/openapi.js';
import type { SettingsService } from './settings.js';

const Settings = z
  .object({
    commands_enabled: z.boolean(),
    upstream_stdio: z.enum(['admins', 'users', 'off']).openapi({
      description: 'Who may add stdio upstream MCP servers (default admins)',
    }),
    upstream_allow_private_networks: z.boolean().openapi({
      description:
        "Users' upstream URLs may reach loopback, link-local and private addresses (default false)",
    }),
    upstream_allow_http: z
      .boolean()
      .openapi({ description: "Users' upstream URLs may use http (default false)" }),
  })
  .openapi('Settings');

export function adminRoutes(deps: { settings: SettingsService; auth: Authenticator }) {
  const app = createRouter();
  const authed = requireAuth(deps.auth, 'api');
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/settings',
      tags: ['admin'],
      summary: 'Server-wide settings (admin)',
      security: bearerSecurity,
      middleware: [authed, requireAdmin] as const,
      responses: { 200: json(Settings), ...errorResponses(401, 403) },
    }),
    async (c) => c.json(await deps.settings.get(), 200),
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/admin/settings',
      tags: ['admin'],
      summary: 'Change server-wide settings, e.g. switch run_shell_command off for everybody (admin)',
      security: bearerSecurity,
      middleware: [authed, requireAdmin] as const,
      request: { body: jsonBody(Settings.partial().strict()) },
      responses: { 200: json(Settings), ...errorResponses(400, 401, 403) },
    }),
    async (c) =>
      c.json(await deps.settings.update(c.get('principal'), c.req.valid('json'), c.get('clientIp')), 200),
  );
  return app;
}
