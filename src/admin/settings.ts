import { authorize } from '../authz/index.js';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { tables, type Database } from '../db/index.js';
import { recordAudit } from '../audit/index.js';
import type { Principal } from '../shared/principal.js';

/** Every run-time setting, with its type and default. Unknown keys in the table are ignored. */
export const SettingsSchema = z.object({
  /** Admin switch for run_shell_command (COMMANDS_ENABLED=false removes the tool entirely). */
  commands_enabled: z.boolean().default(true),
  /** OAuth: whether MCP clients may register themselves (RFC 7591); Client ID Metadata Documents work either way. */
  oauth_dynamic_registration: z.boolean().default(true),
  /** OAuth: the only client ids (metadata document URLs or registered ids) that may ask; empty = any client. */
  oauth_allowed_clients: z.array(z.string()).default([]),
  /** Users may configure model providers of their own (with their own API keys) for their assistants. */
  user_model_providers: z.boolean().default(false),
  /** Who may add stdio upstream MCP servers (programs run on the host, sandboxed): `admins`, `users` or `off`. */
  upstream_stdio: z.enum(['admins', 'users', 'off']).default('admins'),
  /** Users' upstream URLs may point to loopback, link-local and private addresses (SSRF guard off for them). */
  upstream_allow_private_networks: z.boolean().default(false),
  /** Users' upstream URLs may use plain http (otherwise https only). */
  upstream_allow_http: z.boolean().default(false),
});
export type Settings = z.infer<typeof SettingsSchema>;

/** Without Redis, other instances pick up a change within this time. */
const CACHE_MS = 5_000;

/** Server-wide settings administrators change at run time, stored in the database so every instance agrees. */
export class SettingsService {
  /** Emits `changed` after an update, so other instances (through the Redis bridge) drop their cached copy. */
  readonly events = new EventEmitter();
  private cached: { value: Settings; until: number } | null = null;

  constructor(private readonly db: Database) {}

  async get(): Promise<Settings> {
    if (this.cached && this.cached.until > Date.now()) return this.cached.value;
    const rows = await this.db.select().from(tables.settings);
    const value = SettingsSchema.parse(Object.fromEntries(rows.map((r) => [r.key, r.value])));
    this.cached = { value, until: Date.now() + CACHE_MS };
    return value;
  }

  /** The settings as an administrator reads them (`get()` is for the server's own use). */
  async read(actor: Principal): Promise<Settings> {
    authorize(actor, 'settings.read');
    return this.get();
  }

  async update(admin: Principal, patch: Partial<Settings>, ip: string | null): Promise<Settings> {
    authorize(admin, 'settings.update');
    await this.db.transaction(async (tx) => {
      for (const [key, value] of Object.entries(patch)) {
        if (value === undefined) continue;
        await tx
          .insert(tables.settings)
          .values({ key, value })
          .onConflictDoUpdate({ target: tables.settings.key, set: { value, updatedAt: new Date() } });
      }
      await recordAudit(tx, {
        actorId: admin.userId,
        action: 'admin.settings.update',
        target: 'settings',
        result: 'success',
        ip,
        details: patch,
      });
    });
    this.cached = null;
    this.events.emit('changed', {});
    return this.get();
  }

  /** Forgets the cached value (tests and settings changed elsewhere). */
  reset(): void {
    this.cached = null;
  }
}
