import { and, asc, eq, inArray, or } from 'drizzle-orm';
import { tables, type Database } from '../db/index.js';
import { recordAudit } from '../audit/index.js';
import { badRequest, conflict, forbidden, notFound } from '../shared/errors.js';
import type { Principal } from '../shared/principal.js';
import type { ProvidersService } from '../providers/index.js';
import { TtlCache } from '../shared/ttl-cache.js';
import { may } from '../authz/index.js';
import { UsageCounter } from './usage.js';

/** Another instance's change to an assistant is seen within this time on the chat path. */
const CALL_CACHE_MS = 5_000;

export type AssistantRow = typeof tables.assistants.$inferSelect;

export interface AssistantInput {
  name: string;
  description?: string;
  provider_id?: string | null;
  model: string;
  system_prompt?: string;
  temperature?: number | null;
  max_tokens?: number | null;
  max_steps?: number;
  /** `all`: every skill of the owner; or the names of the chosen skills. */
  skills?: 'all' | string[];
  run_scripts?: boolean;
  upstream_tools?: string[];
  shared?: boolean;
}

export interface AssistantView {
  id: string;
  name: string;
  description: string;
  provider_id: string | null;
  model: string;
  system_prompt: string;
  temperature: number | null;
  max_tokens: number | null;
  max_steps: number;
  skills: 'all' | string[];
  run_scripts: boolean;
  upstream_tools: string[];
  shared: boolean;
  owned: boolean;
  created_at: string;
  updated_at: string;
}

export interface UsageView {
  assistant_id: string;
  credential: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  updated_at: string;
}

export const toAssistantView = (a: AssistantRow, actor: Principal): AssistantView => ({
  id: a.id,
  name: a.slug,
  description: a.description,
  provider_id: a.providerId,
  model: a.model,
  system_prompt: a.systemPrompt,
  temperature: a.temperature,
  max_tokens: a.maxTokens,
  max_steps: a.maxSteps,
  skills: a.allSkills ? 'all' : a.skillNames,
  run_scripts: a.runScripts,
  upstream_tools: a.upstreamTools,
  shared: a.shared,
  owned: a.ownerId === actor.userId,
  created_at: a.createdAt.toISOString(),
  updated_at: a.updatedAt.toISOString(),
});

const columnsOf = (input: Partial<AssistantInput>) => ({
  slug: input.name,
  description: input.description,
  providerId:
    input.provider_id === undefined ? undefined : input.provider_id === 'env' ? null : input.provider_id,
  model: input.model,
  systemPrompt: input.system_prompt,
  temperature: input.temperature,
  maxTokens: input.max_tokens,
  maxSteps: input.max_steps,
  allSkills: input.skills === undefined ? undefined : input.skills === 'all',
  skillNames:
    input.skills === undefined ? undefined : input.skills === 'all' ? [] : [...new Set(input.skills)],
  runScripts: input.run_scripts,
  upstreamTools: input.upstream_tools && [...new Set(input.upstream_tools)],
  shared: input.shared,
});

const isUniqueViolation = (err: unknown) =>
  (err as { code?: string; cause?: { code?: string } }).code === '23505' ||
  (err as { cause?: { code?: string } }).cause?.code === '23505';

/**
 * Assistants: CRUD under the `assistants` policy (`policy.ts`), the ones a credential may call, and their token usage. The name is
 * the model id clients use, unique on the server.
 */
export class AssistantsService {
  /** Assistant rows by name for the chat path (`forCall`); dropped on every change made here. */
  private readonly bySlug = new TtlCache<string, AssistantRow | null>(CALL_CACHE_MS);
  private readonly usageCounter: UsageCounter;

  constructor(
    private readonly db: Database,
    private readonly providers: ProvidersService,
    /** Told when a usage write failed (the counts are kept and written with the next one). */
    onUsageError: (err: unknown) => void = () => undefined,
  ) {
    this.usageCounter = new UsageCounter(db, onUsageError);
  }

  /** The caller's own assistants and the shared ones. */
  async list(actor: Principal): Promise<AssistantView[]> {
    const rows = await this.visibleRows(actor);
    return rows.map((r) => toAssistantView(r, actor));
  }

  async get(actor: Principal, id: string): Promise<AssistantView> {
    return toAssistantView(await this.visibleRow(actor, id), actor);
  }

  async create(actor: Principal, input: AssistantInput, ip: string | null): Promise<AssistantView> {
    if (input.shared && !may(actor, 'assistants.share'))
      throw forbidden('Only administrators share assistants');
    await this.providers.connectionFor(actor.userId, normaliseProvider(input.provider_id));
    const row = await this.db
      .transaction(async (tx) => {
        const [row] = await tx
          .insert(tables.assistants)
          .values({ ...columnsOf(input), ownerId: actor.userId, slug: input.name, model: input.model })
          .returning();
        await recordAudit(tx, {
          actorId: actor.userId,
          action: 'assistant.create',
          target: `assistant:${row!.id}`,
          result: 'success',
          ip,
          details: { name: input.name, model: input.model, shared: input.shared ?? false },
        });
        return row!;
      })
      .catch(rethrowTaken);
    this.bySlug.clear();
    return toAssistantView(row, actor);
  }

  async update(
    actor: Principal,
    id: string,
    changes: Partial<AssistantInput>,
    ip: string | null,
  ): Promise<AssistantView> {
    const current = await this.visibleRow(actor, id);
    if (!may(actor, 'assistants.manage', current)) throw notFound('Assistant not found');
    if (changes.shared !== undefined && changes.shared !== current.shared && !may(actor, 'assistants.share'))
      throw forbidden('Only administrators share assistants');
    if (changes.provider_id !== undefined)
      await this.providers.connectionFor(current.ownerId, normaliseProvider(changes.provider_id));
    const row = await this.db
      .transaction(async (tx) => {
        const [row] = await tx
          .update(tables.assistants)
          .set({ ...columnsOf(changes), updatedAt: new Date() })
          .where(eq(tables.assistants.id, id))
          .returning();
        await recordAudit(tx, {
          actorId: actor.userId,
          action: 'assistant.update',
          target: `assistant:${id}`,
          result: 'success',
          ip,
          details: { ...changes, system_prompt: changes.system_prompt === undefined ? undefined : 'changed' },
        });
        return row!;
      })
      .catch(rethrowTaken);
    this.bySlug.clear();
    return toAssistantView(row, actor);
  }

  async remove(actor: Principal, id: string, ip: string | null): Promise<void> {
    const current = await this.visibleRow(actor, id);
    if (!may(actor, 'assistants.manage', current)) throw notFound('Assistant not found');
    await this.db.transaction(async (tx) => {
      await tx.delete(tables.assistants).where(eq(tables.assistants.id, id));
      await recordAudit(tx, {
        actorId: actor.userId,
        action: 'assistant.delete',
        target: `assistant:${id}`,
        result: 'success',
        ip,
        details: { name: current.slug },
      });
    });
    this.bySlug.clear();
  }

  /** Exactly the assistants `caller` may call (`/v1/models`). */
  async callable(caller: Principal): Promise<AssistantRow[]> {
    return (await this.visibleRows(caller)).filter((a) => may(caller, 'assistants.call', a));
  }

  /** The assistant named `model` if `caller` may call it; otherwise null (missing and forbidden look alike). */
  async forCall(caller: Principal, model: string): Promise<AssistantRow | null> {
    const row = await this.bySlug.get(model, async () => {
      const [found] = await this.db.select().from(tables.assistants).where(eq(tables.assistants.slug, model));
      return found ?? null;
    });
    return row && may(caller, 'assistants.call', row) ? row : null;
  }

  /** For API keys bound to assistants: every id must name an assistant the key's owner can see. */
  async assertBindable(actor: Principal, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const rows = await this.db
      .select()
      .from(tables.assistants)
      .where(inArray(tables.assistants.id, [...ids]));
    const visible = new Set(rows.filter((r) => may(actor, 'assistants.read', r)).map((r) => r.id));
    const unknown = ids.filter((id) => !visible.has(id));
    if (unknown.length)
      throw badRequest('Unknown assistant', {
        fields: unknown.map(() => ({ path: 'assistant_ids', message: 'no such assistant' })),
      });
  }

  /** Adds one request's tokens to the assistant's usage for the credential that made it (written within a second). */
  recordUsage(caller: Principal, assistantId: string, usage: { prompt: number; completion: number }): void {
    this.usageCounter.add(assistantId, caller.tokenId ?? 'session', caller.userId, usage);
  }

  /** Writes the usage counted so far (at shutdown). */
  flushUsage(): Promise<void> {
    return this.usageCounter.flush();
  }

  /** Usage of an assistant the caller manages, per credential. */
  async usage(actor: Principal, id: string): Promise<UsageView[]> {
    const a = await this.visibleRow(actor, id);
    if (!may(actor, 'assistants.manage', a)) throw notFound('Assistant not found');
    await this.usageCounter.flush(); // this instance's latest turns included
    const u = tables.assistantUsage;
    const rows = await this.db.select().from(u).where(eq(u.assistantId, id)).orderBy(asc(u.credential));
    return rows.map((r) => ({
      assistant_id: r.assistantId,
      credential: r.credential,
      requests: r.requests,
      prompt_tokens: r.promptTokens,
      completion_tokens: r.completionTokens,
      updated_at: r.updatedAt.toISOString(),
    }));
  }

  private visibleRows(actor: Principal): Promise<AssistantRow[]> {
    const a = tables.assistants;
    return this.db
      .select()
      .from(a)
      .where(or(eq(a.ownerId, actor.userId), eq(a.shared, true)))
      .orderBy(asc(a.slug));
  }

  private async visibleRow(actor: Principal, id: string): Promise<AssistantRow> {
    const [row] = await this.db
      .select()
      .from(tables.assistants)
      .where(and(eq(tables.assistants.id, id)));
    if (!row || !may(actor, 'assistants.read', row)) throw notFound('Assistant not found');
    return row;
  }
}

const normaliseProvider = (id: string | null | undefined) => (id === undefined || id === 'env' ? null : id);

function rethrowTaken(err: unknown): never {
  if (isUniqueViolation(err)) throw conflict('An assistant with this name exists; names are model ids');
  throw err;
}
