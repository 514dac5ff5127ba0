import type { EmbeddingModel, embedMany as EmbedMany } from 'ai';
import { normalise } from './vectors.js';

/**
 * Where embeddings come from: one small interface, so the composition root can later hand in an embedder built
 * on the assistants' model providers without the search room changing.
 */
export interface Embedder {
  /** Identifies the vectors: documents embedded under another model are re-embedded (the re-index). */
  readonly model: string;
  /** One normalised vector per text, in order. */
  embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]>;
}

export interface EmbeddingsSettings {
  baseUrl: string;
  model: string;
  apiKey?: string;
}

/**
 * The embeddings settings from the environment: `EMBEDDINGS_BASE_URL`, `EMBEDDINGS_MODEL`,
 * `EMBEDDINGS_API_KEY`, where the base URL and key fall back to `OPENAI_BASE_URL` / `OPENAI_API_KEY`. Null
 * (search is full text only) unless a base URL and a model are known.
 */
export function embeddingsSettings(env: {
  EMBEDDINGS_BASE_URL?: string;
  EMBEDDINGS_MODEL?: string;
  EMBEDDINGS_API_KEY?: string;
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
}): EmbeddingsSettings | null {
  const baseUrl = env.EMBEDDINGS_BASE_URL ?? env.OPENAI_BASE_URL;
  const model = env.EMBEDDINGS_MODEL;
  if (!baseUrl || !model) return null;
  const apiKey = env.EMBEDDINGS_API_KEY ?? (env.EMBEDDINGS_BASE_URL ? undefined : env.OPENAI_API_KEY);
  return { baseUrl, model, ...(apiKey ? { apiKey } : {}) };
}

/** Texts per request to the endpoint (OpenAI accepts 2048; local servers are happier with fewer). */
const BATCH = 64;

/** An OpenAI-compatible `/v1/embeddings` endpoint through the AI SDK (OpenAI, Ollama, vLLM, TEI, LM Studio). */
export function openAiCompatibleEmbedder(settings: EmbeddingsSettings): Embedder {
  // The AI SDK is loaded with the first batch, not at start-up (most servers embed nothing for minutes).
  let sdk: Promise<{ model: EmbeddingModel; embedMany: typeof EmbedMany }> | null = null;
  const loadSdk = async () => {
    const [{ createOpenAICompatible }, { embedMany }] = await Promise.all([
      import('@ai-sdk/openai-compatible'),
      import('ai'),
    ]);
    const provider = createOpenAICompatible({
      name: 'embeddings',
      baseURL: settings.baseUrl.replace(/\/+$/, ''),
      ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    });
    return { model: provider.embeddingModel(settings.model), embedMany };
  };
  return {
    model: settings.model,
    async embed(texts, signal) {
      const { model, embedMany } = await (sdk ??= loadSdk());
      const out: Float32Array[] = [];
      for (let i = 0; i < texts.length; i += BATCH) {
        // Retries are the job queue's (with backoff, across restarts), not the SDK's.
        const { embeddings } = await embedMany({
          model,
          values: texts.slice(i, i + BATCH),
          maxRetries: 0,
          ...(signal ? { abortSignal: signal } : {}),
        });
        for (const e of embeddings) out.push(normalise(e));
      }
      return out;
    },
  };
}
