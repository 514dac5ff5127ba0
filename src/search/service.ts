import { sql, type SQL } from 'drizzle-orm';
import type { Database } from '../db/index.js';
import { sha256Hex } from '../shared/crypto.js';
import type { Principal } from '../shared/principal.js';
import { CandidateCache, type CandidateId } from './candidates.js';
import { visibleTo } from '../skills/index.js';
import type { DocumentKind } from './documents.js';
import type { Embedder } from './embeddings.js';
import { cosine, decodeVector, VectorCache, vectorLiteral } from './vectors.js';

export type SearchMode = 'hybrid' | 'full_text';
/** How a result was found: by its words, by meaning (the embeddings), or both. */
export type MatchKind = 'text' | 'semantic' | 'both';

export interface SearchQuery {
  text: string;
  limit: number;
  kinds: readonly DocumentKind[];
  /** The tool names the caller may call (its tool-registry view); tools outside it are never found. */
  callableTools?: readonly string[];
}

export interface SearchHit {
  kind: DocumentKind;
  name: string;
  description: string;
  match: MatchKind;
  /** Reciprocal-rank-fusion score (higher is better); comparable within one answer only. */
  score: number;
}

export interface SearchAnswer {
  mode: SearchMode;
  results: SearchHit[];
}

/** Candidates each side ranks before fusion. */
const CANDIDATES = 50;
/** RRF's k: dampens the weight of the very first ranks (the usual 60). */
const RRF_K = 60;
const MAX_QUERY_WORDS = 16;
const QUERY_VECTOR_CACHE = 500;

interface Candidate {
  key: string;
  kind: DocumentKind;
  name: string;
  description: string;
}

/** What one caller may find of one kind: a condition on `skills` (skills) or `search_documents d` (tools). */
interface Scope {
  kind: DocumentKind;
  where: SQL;
  /** Identifies the caller view the condition describes (for CandidateCache). */
  key: string;
}

const candidate = (r: { kind: DocumentKind; name: string; description: string }): Candidate => ({
  key: `${r.kind}:${r.name}`,
  kind: r.kind,
  name: r.name,
  description: r.description,
});

/** Code-point order (as `ORDER BY name` under the C collation), the same on every path. */
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Skill documents are scoped through their skill row. */
const joinSkills = (scope: Scope) =>
  scope.kind === 'skill' ? sql`join skills on skills.id = d.skill_id` : sql``;

export interface SearchServiceOptions {
  /** Vector matches below this cosine similarity are dropped (unrelated texts still score above 0). */
  minSimilarity?: number;
  vectorCacheBytes?: number;
}

/**
 * Hybrid search over skills and tools: full text (OR of prefix terms, ranked by `ts_rank_cd`) fused with
 * vector similarity by reciprocal rank fusion. Each side is filtered to what the caller may see before it is
 * limited: skills by the skills' visibility rule plus the credential's skill restriction, tools by the
 * caller's own tool list. Without an embedder (or when it fails for a query) it is full text alone, and says so.
 */
export class SearchService {
  private readonly vectors: VectorCache;
  private readonly candidates = new CandidateCache();
  private readonly queryVectors = new Map<string, Float32Array>();
  private readonly minSimilarity: number;

  constructor(
    private readonly db: Database,
    private readonly embedder: Embedder | null,
    private readonly accelerated: boolean,
    private readonly onEmbedError: (err: unknown) => void = () => undefined,
    opts: SearchServiceOptions = {},
  ) {
    this.vectors = new VectorCache(opts.vectorCacheBytes);
    this.minSimilarity = opts.minSimilarity ?? 0.25;
  }

  /** Something searchable changed (a source's change, or the indexer wrote): caller views read anew. */
  invalidate(): void {
    this.candidates.clear();
  }

  get mode(): SearchMode {
    return this.embedder ? 'hybrid' : 'full_text';
  }

  get vectorPath(): 'pgvector' | 'portable' | 'none' {
    return this.embedder ? (this.accelerated ? 'pgvector' : 'portable') : 'none';
  }

  async search(principal: Principal, query: SearchQuery): Promise<SearchAnswer> {
    const scopes = this.scopes(principal, query);
    if (!scopes.length) return { mode: this.mode, results: [] };
    const [text, semantic] = await Promise.all([
      this.fullText(scopes, query.text),
      this.semantic(scopes, query.text),
    ]);
    const fused = new Map<string, SearchHit>();
    const add = (list: Candidate[], match: MatchKind) =>
      list.forEach((c, rank) => {
        const hit = fused.get(c.key);
        const score = 1 / (RRF_K + rank + 1);
        if (hit) {
          hit.score += score;
          hit.match = 'both';
        } else fused.set(c.key, { kind: c.kind, name: c.name, description: c.description, match, score });
      });
    add(text, 'text');
    add(semantic ?? [], 'semantic');
    const results = [...fused.values()]
      .sort((a, b) => b.score - a.score || byName(a, b))
      .slice(0, query.limit)
      .map((h) => ({ ...h, score: Math.round(h.score * 1e5) / 1e5 }));
    return { mode: semantic ? 'hybrid' : 'full_text', results };
  }

  /**
   * What the caller may find, per kind, as a condition on that kind's own table, so that each query can use its
   * indexes: skills by the visibility rule (`skills`), plus the credential's restriction; tools by owner and the
   * caller's callable names (`search_documents d`).
   */
  private scopes(principal: Principal, query: SearchQuery): Scope[] {
    const scopes: Scope[] = [];
    if (query.kinds.includes('skill')) {
      const only = principal.restriction?.skills;
      scopes.push({
        kind: 'skill',
        key: `skill\0${principal.userId}\0${only?.join('\0') ?? '*'}`,
        where: sql`skills.current_version_id is not null and skills.enabled and ${visibleTo(principal.userId, false)}
          ${only ? sql`and skills.name = any(${textArray(only)})` : sql``}`,
      });
    }
    if (query.kinds.includes('tool') && query.callableTools?.length) {
      scopes.push({
        kind: 'tool',
        key: `tool\0${principal.userId}\0${sha256Hex(query.callableTools.join('\0'))}`,
        where: sql`d.kind = 'tool' and (d.owner_id = ${principal.userId} or d.owner_id is null)
          and d.name = any(${textArray(query.callableTools)})`,
      });
    }
    return scopes;
  }

  /**
   * Full-text candidates, ranked by `ts_rank_cd`. Skills rank on `skills.search` (current at once after an
   * upload), tools on their document's `tsv`, with the same weights, so the two lists merge by rank.
   */
  private async fullText(scopes: Scope[], text: string): Promise<Candidate[]> {
    const words = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, MAX_QUERY_WORDS);
    if (!words.length) return [];
    // OR: a document matching some of the words still ranks (AND would leave most queries with nothing).
    const q = sql`to_tsquery('english', ${words.map((w) => `${w}:*`).join(' | ')})`;
    const lists = await Promise.all(
      scopes.map(async (scope) =>
        rowsOf<Candidate & { rank: number }>(
          await this.db.execute(
            scope.kind === 'skill'
              ? sql`select 'skill' as kind, skills.name, skills.description, ts_rank_cd(skills.search, ${q}) as rank
                  from skills where ${scope.where} and skills.search @@ ${q}
                  order by rank desc, skills.name limit ${CANDIDATES}`
              : sql`select 'tool' as kind, d.name, d.description, ts_rank_cd(d.tsv, ${q}) as rank
                  from search_documents d where ${scope.where} and d.tsv @@ ${q}
                  order by rank desc, d.name limit ${CANDIDATES}`,
          ),
        ),
      ),
    );
    return lists
      .flat()
      .sort((a, b) => Number(b.rank) - Number(a.rank) || byName(a, b))
      .slice(0, CANDIDATES)
      .map(candidate);
  }

  /** Vector candidates, or null when there is no embedder or it failed for this query (full text only). */
  private async semantic(scopes: Scope[], text: string): Promise<Candidate[] | null> {
    if (!this.embedder) return null;
    let q: Float32Array;
    try {
      q = await this.queryVector(text);
    } catch (err) {
      this.onEmbedError(err);
      return null;
    }
    const model = this.embedder.model;
    if (!this.accelerated) return this.portableSemantic(scopes, model, q);
    const vec = sql`${vectorLiteral(q)}::vector`;
    // The caller's documents first (materialised), then their vectors by key: distances are computed for what
    // the caller may see only, never for the whole table (an exact scan per caller; see pgvector.ts).
    const lists = await Promise.all(
      scopes.map(async (scope) =>
        rowsOf<Candidate & { distance: number }>(
          await this.db.execute(sql`
            with mine as materialized (
              select d.id, d.kind, d.name, d.description from search_documents d ${joinSkills(scope)}
              where ${scope.where} and d.embedding_model = ${model})
            select mine.kind, mine.name, mine.description, v.vec <=> ${vec} as distance
            from mine join search_accel.vectors v on v.document_id = mine.id
            where v.model = ${model} and vector_dims(v.vec) = ${q.length}
            order by distance limit ${CANDIDATES}`),
        ),
      ),
    );
    return lists
      .flat()
      .filter((r) => 1 - Number(r.distance) >= this.minSimilarity)
      .sort((a, b) => Number(a.distance) - Number(b.distance) || byName(a, b))
      .slice(0, CANDIDATES)
      .map(candidate);
  }

  /**
   * Without pgvector: the ids of the caller's embedded documents from SQL (kept per caller view between changes,
   * `CandidateCache`), their vectors from the cache (read as bytea once per change), cosine in JS; names and
   * descriptions read for the winners only.
   */
  private async portableSemantic(scopes: Scope[], model: string, q: Float32Array): Promise<Candidate[]> {
    const ids = (
      await Promise.all(
        scopes.map((scope) =>
          this.candidates.get(`${scope.key}\0${model}`, async () =>
            rowsOf<CandidateId>(
              await this.db.execute(sql`
                select d.id, d.name, d.updated_at::text as stamp from search_documents d ${joinSkills(scope)}
                where ${scope.where} and d.embedding_model = ${model}`),
            ),
          ),
        ),
      )
    ).flat();
    const missing = ids.filter((r) => !this.vectors.get(r.id, r.stamp));
    for (let i = 0; i < missing.length; i += 1_000) {
      const chunk = missing.slice(i, i + 1_000);
      const rows = rowsOf<{ id: string; stamp: string; embedding: Buffer | Uint8Array }>(
        await this.db.execute(sql`select id, updated_at::text as stamp, embedding from search_documents
          where id = any(${textArray(chunk.map((c) => c.id))}::uuid[])`),
      );
      for (const r of rows)
        if (r.embedding) this.vectors.set(r.id, r.stamp, decodeVector(Buffer.from(r.embedding)));
    }
    const scored: Array<{ id: string; name: string; sim: number }> = [];
    for (const r of ids) {
      const v = this.vectors.get(r.id, r.stamp);
      const sim = v ? cosine(q, v) : 0;
      if (sim >= this.minSimilarity) scored.push({ id: r.id, name: r.name, sim });
    }
    // Ties in name order, as the pgvector path orders them.
    scored.sort((a, b) => b.sim - a.sim || byName(a, b));
    const top = scored.slice(0, CANDIDATES);
    if (!top.length) return [];
    const rows = rowsOf<Candidate & { id: string }>(
      await this.db.execute(sql`select id, kind, name, description from search_documents
        where id = any(${textArray(top.map((t) => t.id))}::uuid[])`),
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return top.flatMap((t) => {
      const r = byId.get(t.id);
      return r ? [candidate(r)] : [];
    });
  }

  private async queryVector(text: string): Promise<Float32Array> {
    const key = text.trim().toLowerCase();
    const hit = this.queryVectors.get(key);
    if (hit) return hit;
    const [vec] = await this.embedder!.embed([key]);
    if (this.queryVectors.size >= QUERY_VECTOR_CACHE)
      this.queryVectors.delete(this.queryVectors.keys().next().value!);
    this.queryVectors.set(key, vec!);
    return vec!;
  }
}

/** A text[] parameter (drizzle would otherwise expand a JS array into a list of parameters). */
const textArray = (values: readonly string[]) => sql`${`{${values.map(pgArrayItem).join(',')}}`}::text[]`;
const pgArrayItem = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function rowsOf<T>(result: unknown): T[] {
  return ((result as { rows?: unknown[] }).rows ?? (result as unknown[])) as T[];
}
