import type { Config } from '../config/index.js';
import {
  embeddingsSettings,
  openAiCompatibleEmbedder,
  type Embedder,
  type SearchRoom,
} from '../search/index.js';
import type { SkillSearch } from '../tools/index.js';

/** The embedder from the EMBEDDINGS_* settings; without one, search is full text only and /ready says so. */
export function embedderFrom(config: Config, warnings: string[]): Embedder | null {
  const settings = embeddingsSettings(config);
  if (settings) return openAiCompatibleEmbedder(settings);
  warnings.push(
    'Search is full-text only: no embeddings provider is configured (set EMBEDDINGS_BASE_URL and EMBEDDINGS_MODEL)',
  );
  return null;
}

/** search_skills over the search room: hybrid ranking, the caller's visibility and restriction in the query. */
export const searchSkills =
  (search: SearchRoom): SkillSearch =>
  async (principal, query, limit) =>
    (await search.service.search(principal, { text: query, limit, kinds: ['skill'] })).results;
