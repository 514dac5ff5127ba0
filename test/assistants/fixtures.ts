/** Shared set-up for the assistant tests: a scripted provider, providers, assistants and keys on a real server. */
import OpenAI from 'openai';
import { expect } from 'vitest';
import type { Api } from '../helpers/api.js';
import { ScriptedLlm } from '../helpers/scripted-llm.js';

export async function startLlm(): Promise<ScriptedLlm> {
  return new ScriptedLlm().start();
}

export async function createProvider(
  admin: Api,
  llm: ScriptedLlm,
  kind: 'openai-compatible' | 'anthropic' = 'openai-compatible',
): Promise<string> {
  const res = await admin.post('/api/v1/providers', {
    name: `scripted-${kind}`,
    kind,
    base_url: llm.url,
    api_key: 'sk-provider-secret-value',
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

export async function createAssistant(api: Api, body: Record<string, unknown>): Promise<any> {
  const res = await api.post('/api/v1/assistants', { model: 'scripted-1', ...body });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** An API key that may call assistants (all of the owner's, or the listed ones). */
export async function assistantKey(
  api: Api,
  assistantIds: string[] = [],
  extra: object = {},
): Promise<{ id: string; token: string }> {
  const res = await api.post('/api/v1/api-keys', {
    name: `assistants-${Math.random().toString(36).slice(2, 8)}`,
    can_call_assistant: true,
    assistant_ids: assistantIds,
    ...extra,
  });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.id, token: res.body.token };
}

export const openAiClient = (baseUrl: string, apiKey: string, opts: { maxRetries?: number } = {}) =>
  new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey, maxRetries: opts.maxRetries ?? 2 });
