import { createRoute } from '@hono/zod-openapi';
import type { Authenticator } from '../accounts/index.js';
import {
  requirePermission,
  bearerSecurity,
  createRouter,
  errorResponses,
  json,
  jsonBody,
  z,
} from '../http/index.js';
import type { SettingsService } from './settings.js';

const Settings = z
  .object({
    commands_enabled: z.boolean(),
    user_model_providers: z.boolean().openapi({
      description: 'Whether users may configure model providers of their own (with their own API keys)',
    }),
    oauth_dynamic_registration: z.boolean().openapi({
      description: 'Whether MCP clients may register themselves with the OAuth server (RFC 7591)',
    }),
    oauth_allowed_clients: z.array(z.string().trim().min(1).max(2048)).max(200).openapi({
      description:
        'OAuth client ids (Client ID Metadata Document URLs or registered ids) allowed to ask users for access; empty = any client',
    }),
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
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/settings',
      tags: ['admin'],
      summary: 'Server-wide settings (admin)',
      security: bearerSecurity,
      middleware: [requirePermission(deps.auth, 'settings.read')] as const,
      responses: { 200: json(Settings), ...errorResponses(401, 403) },
    }),
    async (c) => c.json(await deps.settings.read(c.get('principal')), 200),
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/admin/settings',
      tags: ['admin'],
      summary: 'Change server-wide settings, e.g. switch run_shell_command off for everybody (admin)',
      security: bearerSecurity,
      middleware: [requirePermission(deps.auth, 'settings.update')] as const,
      request: { body: jsonBody(Settings.partial().strict()) },
      responses: { 200: json(Settings), ...errorResponses(400, 401, 403) },
    }),
    async (c) =>
      c.json(await deps.settings.update(c.get('principal'), c.req.valid('json'), c.get('clientIp')), 200),
  );
  return app;
}
