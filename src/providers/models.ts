import type { LanguageModelV3 } from '@ai-sdk/provider';
import type { EmbeddingModel } from 'ai';
import { guardedFetch } from '../shared/url-guard.js';

export type ProviderKind = 'openai-compatible' | 'anthropic';

/** What is needed to talk to a provider: the opened key, never stored in this shape. */
export interface ProviderConnection {
  /** Names the provider in the AI SDK's metadata and our logs (never the key). */
  name: string;
  kind: ProviderKind;
  baseUrl: string;
  apiKey: string | null;
  /** Whether private and local addresses may be called (admins' providers). */
  allowPrivate: boolean;
}

/**
 * AI SDK provider instances for a connection. Always instances, never model-id strings: a string model goes to
 * the Vercel AI Gateway (`@ai-sdk/gateway` is a dependency of `ai`). The provider packages are loaded with the
 * first model built, not at start-up.
 */
async function sdkProvider(c: ProviderConnection) {
  const fetch = guardedFetch(c.allowPrivate);
  if (c.kind === 'anthropic') {
    const { createAnthropic } = await import('@ai-sdk/anthropic');
    return createAnthropic({ baseURL: c.baseUrl, apiKey: c.apiKey ?? '', fetch });
  }
  const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
  return createOpenAICompatible({
    name: c.name,
    baseURL: c.baseUrl,
    ...(c.apiKey ? { apiKey: c.apiKey } : {}),
    includeUsage: true,
    fetch,
  });
}

export async function languageModel(c: ProviderConnection, model: string): Promise<LanguageModelV3> {
  return (await sdkProvider(c)).languageModel(model);
}

/** An embeddings model of an OpenAI-compatible provider (Anthropic has no embeddings API). */
export async function embeddingModel(c: ProviderConnection, model: string): Promise<EmbeddingModel> {
  if (c.kind === 'anthropic') throw new Error('Anthropic providers offer no embeddings model');
  const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
  return createOpenAICompatible({
    name: c.name,
    baseURL: c.baseUrl,
    ...(c.apiKey ? { apiKey: c.apiKey } : {}),
    fetch: guardedFetch(c.allowPrivate),
  }).embeddingModel(model);
}

const LIST_TIMEOUT_MS = 10_000;

/**
 * The models a provider offers (`GET {base}/models`, the same path for OpenAI-compatible servers and Anthropic's
 * API): the connectivity check. Throws with a message fit for the admin (status, never the key).
 */
export async function listProviderModels(c: ProviderConnection, signal?: AbortSignal): Promise<string[]> {
  const headers: Record<string, string> =
    c.kind === 'anthropic'
      ? { 'x-api-key': c.apiKey ?? '', 'anthropic-version': '2023-06-01' }
      : c.apiKey
        ? { authorization: `Bearer ${c.apiKey}` }
        : {};
  const timeout = AbortSignal.timeout(LIST_TIMEOUT_MS);
  const res = await guardedFetch(c.allowPrivate)(`${c.baseUrl.replace(/\/+$/, '')}/models`, {
    headers,
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`the provider answered ${res.status} ${res.statusText}`.trim());
  }
  const body = (await res.json()) as { data?: Array<{ id?: unknown }> };
  return (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
}
