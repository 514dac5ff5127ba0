import { and, asc, eq, isNull, or } from 'drizzle-orm';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { tables, type Database } from '../db/index.js';
import { recordAudit } from '../audit/index.js';
import type { SettingsService } from '../admin/index.js';
import { badRequest, conflict, forbidden, notFound } from '../shared/errors.js';
import type { Principal } from '../shared/principal.js';
import { MASKED_SECRET, type SecretBox } from '../shared/secrets.js';
import type { SecretHolder } from '../shared/secret-rotation.js';
import { assertCallableUrl } from '../shared/url-guard.js';
import {
  embeddingModel,
  languageModel,
  listProviderModels,
  type ProviderConnection,
  type ProviderKind,
} from './models.js';
import { TtlCache } from '../shared/ttl-cache.js';
import { may } from '../authz/index.js';
import { providerMayReachPrivate, providerUsableBy } from './policy.js';

/** Another instance's change to a provider is seen within this time on the chat path. */
const CONNECTION_CACHE_MS = 5_000;
/** Bounds the chat models kept for one provider row. */
const MODELS_PER_PROVIDER = 100;

/** The provider OPENAI_API_KEY configures: no row, no console step; assistants name it with a null provider id. */
export const ENV_PROVIDER_ID = 'env';

export interface ProviderView {
  id: string;
  name: string;
  kind: ProviderKind;
  base_url: string;
  /** `MASKED_SECRET` when a key is kept, null when none: the key itself is never shown again. */
  api_key: string | null;
  models: string[];
  scope: 'global' | 'own' | 'environment';
  created_at: string | null;
  updated_at: string | null;
}

export interface ProviderInput {
  name: string;
  kind: ProviderKind;
  base_url: string;
  /** Omitted on update: unchanged; null: removed. */
  api_key?: string | null;
  models?: string[];
  /** Create for everybody (admins only). */
  global?: boolean;
}

type Row = typeof tables.modelProviders.$inferSelect;

const sealedAt = (id: string) => ({ table: 'model_providers', id, field: 'api_key' });

const toView = (r: Row, actor: Principal): ProviderView => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  base_url: r.baseUrl,
  api_key: r.apiKey ? MASKED_SECRET : null,
  models: r.models,
  scope: r.ownerId === null ? 'global' : r.ownerId === actor.userId ? 'own' : 'global',
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

/**
 * Model providers: admins' for everybody, users' own when allowed. API keys are sealed with `SecretBox` and
 * opened only to build a connection; views show `MASKED_SECRET`. The environment's default provider
 * (OPENAI_API_KEY, OPENAI_BASE_URL) is listed read-only with the id `env`.
 */
export class ProvidersService {
  /** Provider rows by id for the chat path (`connectionFor`); dropped on every change made here. */
  private readonly rows = new TtlCache<string, Row | null>(CONNECTION_CACHE_MS);
  /** Chat models built from a cached row (or the environment's settings), by model name (`languageModel`). */
  private readonly models = new WeakMap<object, Map<string, Promise<LanguageModelV3>>>();

  constructor(
    private readonly db: Database,
    private readonly secrets: SecretBox,
    private readonly settings: SettingsService,
    private readonly env: { apiKey?: string; baseUrl: string },
  ) {}

  /** The sealed API keys of every provider, for `skillport secrets rotate`. */
  readonly secretHolder: SecretHolder = {
    name: 'model_providers',
    reseal: (reseal) =>
      this.db.transaction(async (tx) => {
        const p = tables.modelProviders;
        const rows = await tx.select({ id: p.id, apiKey: p.apiKey }).from(p).for('update');
        let changed = 0;
        for (const { id, apiKey } of rows) {
          if (!apiKey) continue;
          const resealed = reseal(apiKey, sealedAt(id));
          if (resealed === apiKey) continue;
          await tx.update(p).set({ apiKey: resealed }).where(eq(p.id, id));
          changed++;
        }
        this.rows.clear();
        return changed;
      }),
  };

  private envView(): ProviderView | null {
    if (!this.env.apiKey) return null;
    return {
      id: ENV_PROVIDER_ID,
      name: 'Environment (OPENAI_API_KEY)',
      kind: 'openai-compatible',
      base_url: this.env.baseUrl,
      api_key: MASKED_SECRET,
      models: [],
      scope: 'environment',
      created_at: null,
      updated_at: null,
    };
  }

  async list(actor: Principal): Promise<ProviderView[]> {
    const t = tables.modelProviders;
    const rows = await this.db
      .select()
      .from(t)
      .where(or(isNull(t.ownerId), eq(t.ownerId, actor.userId)))
      .orderBy(asc(t.name), asc(t.id));
    const env = this.envView();
    return [...(env ? [env] : []), ...rows.map((r) => toView(r, actor))];
  }

  async get(actor: Principal, id: string): Promise<ProviderView> {
    if (id === ENV_PROVIDER_ID) {
      const env = this.envView();
      if (env) return env;
    }
    return toView(await this.visibleRow(actor, id), actor);
  }

  async create(actor: Principal, input: ProviderInput, ip: string | null): Promise<ProviderView> {
    const global = input.global ?? actor.isAdmin;
    if (
      global
        ? !may(actor, 'providers.createGlobal')
        : !may(actor, 'providers.createOwn', await this.usersMay())
    )
      throw forbidden(
        global
          ? 'Only administrators configure providers for everybody'
          : 'Configuring your own model providers is not enabled on this server',
      );
    const ownerId = global ? null : actor.userId;
    await assertCallableUrl(input.base_url, 'base_url', providerMayReachPrivate({ ownerId }));
    const row = await this.db.transaction(async (tx) => {
      const [created] = await tx
        .insert(tables.modelProviders)
        .values({
          ownerId,
          name: input.name,
          kind: input.kind,
          baseUrl: input.base_url,
          models: [...new Set(input.models ?? [])],
        })
        .returning();
      let row = created!;
      if (input.api_key) {
        [row] = (await tx
          .update(tables.modelProviders)
          .set({ apiKey: this.secrets.seal(input.api_key, sealedAt(row.id)) })
          .where(eq(tables.modelProviders.id, row.id))
          .returning()) as [Row];
      }
      await recordAudit(tx, {
        actorId: actor.userId,
        action: 'provider.create',
        target: `provider:${row.id}`,
        result: 'success',
        ip,
        details: { name: input.name, kind: input.kind, base_url: input.base_url, global },
      });
      return row;
    });
    return toView(row, actor);
  }

  async update(
    actor: Principal,
    id: string,
    changes: Partial<Omit<ProviderInput, 'global'>>,
    ip: string | null,
  ): Promise<ProviderView> {
    const current = await this.manageableRow(actor, id);
    if (changes.base_url !== undefined)
      await assertCallableUrl(changes.base_url, 'base_url', providerMayReachPrivate(current));
    const row = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(tables.modelProviders)
        .set({
          name: changes.name,
          kind: changes.kind,
          baseUrl: changes.base_url,
          models: changes.models && [...new Set(changes.models)],
          apiKey:
            changes.api_key === undefined
              ? undefined
              : changes.api_key === null
                ? null
                : this.secrets.seal(changes.api_key, sealedAt(id)),
          updatedAt: new Date(),
        })
        .where(eq(tables.modelProviders.id, id))
        .returning();
      const { api_key, ...rest } = changes;
      await recordAudit(tx, {
        actorId: actor.userId,
        action: 'provider.update',
        target: `provider:${id}`,
        result: 'success',
        ip,
        details: { ...rest, ...(api_key !== undefined ? { api_key: api_key ? 'changed' : 'removed' } : {}) },
      });
      return row!;
    });
    this.rows.clear();
    return toView(row, actor);
  }

  async remove(actor: Principal, id: string, ip: string | null): Promise<void> {
    await this.manageableRow(actor, id);
    await this.db.transaction(async (tx) => {
      const [used] = await tx
        .select({ id: tables.assistants.id })
        .from(tables.assistants)
        .where(eq(tables.assistants.providerId, id))
        .limit(1);
      if (used) throw conflict('Assistants still use this provider; move them to another one first');
      await tx.delete(tables.modelProviders).where(eq(tables.modelProviders.id, id));
      await recordAudit(tx, {
        actorId: actor.userId,
        action: 'provider.delete',
        target: `provider:${id}`,
        result: 'success',
        ip,
      });
    });
    this.rows.clear();
  }

  /** The connectivity check: lists the provider's models with its stored key. */
  async check(
    actor: Principal,
    id: string,
  ): Promise<{ ok: boolean; models: string[]; error: string | null }> {
    const connection =
      id === ENV_PROVIDER_ID && actor.isAdmin && this.env.apiKey
        ? this.envConnection()
        : this.connectionOf(await this.manageableRow(actor, id));
    try {
      return { ok: true, models: await listProviderModels(connection), error: null };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, models: [], error: message };
    }
  }

  /**
   * The connection of the provider an assistant owned by `ownerId` uses (null: the environment's). Throws
   * `bad_request` naming `provider_id` when it is missing or not usable for that owner.
   */
  async connectionFor(ownerId: string, providerId: string | null): Promise<ProviderConnection> {
    const row = await this.usableRow(ownerId, providerId);
    return row ? this.connectionOf(row) : this.envConnection();
  }

  /** The provider row an assistant owned by `ownerId` uses, or null for the environment's (see `connectionFor`). */
  private async usableRow(ownerId: string, providerId: string | null): Promise<Row | null> {
    if (providerId === null || providerId === ENV_PROVIDER_ID) {
      if (!this.env.apiKey)
        throw badRequest('No default model provider is configured (OPENAI_API_KEY); choose a provider', {
          fields: [{ path: 'provider_id', message: 'no default provider' }],
        });
      return null;
    }
    const row = await this.rows.get(providerId, async () => {
      const [found] = await this.db
        .select()
        .from(tables.modelProviders)
        .where(eq(tables.modelProviders.id, providerId));
      return found ?? null;
    });
    if (!row || !providerUsableBy(ownerId, row))
      throw badRequest('Unknown model provider', {
        fields: [{ path: 'provider_id', message: 'not found' }],
      });
    return row;
  }

  /** For other rooms (search): an embeddings model of a provider, as its owner may use it. */
  async embeddingModel(ownerId: string, providerId: string | null, model: string) {
    return embeddingModel(await this.connectionFor(ownerId, providerId), model);
  }

  /**
   * The AI SDK model for a chat turn. Instances are kept per cached provider row (and model name): building one
   * constructs the SDK's response schemas, which then compile on first use, about a third of a millisecond per
   * request. A changed or expired row is a new object, so its model is built anew with the new key and address.
   */
  async languageModel(ownerId: string, providerId: string | null, model: string): Promise<LanguageModelV3> {
    const row = await this.usableRow(ownerId, providerId);
    const source: object = row ?? this.env;
    let byName = this.models.get(source);
    if (!byName || byName.size >= MODELS_PER_PROVIDER) this.models.set(source, (byName = new Map()));
    let built = byName.get(model);
    if (!built) {
      // The promise is kept, so that concurrent first turns share one build.
      built = languageModel(row ? this.connectionOf(row) : this.envConnection(), model);
      byName.set(model, built);
    }
    return built;
  }

  /** Whether users may configure their own providers (the admin setting). */
  async usersMay(): Promise<boolean> {
    return (await this.settings.get()).user_model_providers;
  }

  private envConnection(): ProviderConnection {
    return {
      name: 'environment',
      kind: 'openai-compatible',
      baseUrl: this.env.baseUrl,
      apiKey: this.env.apiKey ?? null,
      allowPrivate: true,
    };
  }

  private connectionOf(row: Row): ProviderConnection {
    return {
      name: `provider-${row.id}`,
      kind: row.kind,
      baseUrl: row.baseUrl,
      apiKey: row.apiKey ? this.secrets.open(row.apiKey, sealedAt(row.id)) : null,
      allowPrivate: providerMayReachPrivate(row),
    };
  }

  private async visibleRow(actor: Principal, id: string): Promise<Row> {
    const [row] = await this.db
      .select()
      .from(tables.modelProviders)
      .where(and(eq(tables.modelProviders.id, id)));
    if (!row || !may(actor, 'providers.read', row)) throw notFound('Model provider not found');
    return row;
  }

  private async manageableRow(actor: Principal, id: string): Promise<Row> {
    const row = await this.visibleRow(actor, id);
    if (!may(actor, 'providers.manage', row)) throw forbidden('Only administrators change this provider');
    return row;
  }
}
