import type { Config } from '../config/index.js';
import {
  embeddingsSettings,
  listSource,
  openAiCompatibleEmbedder,
  toolDocument,
  type Embedder,
  type SearchRoom,
  type SearchSource,
} from '../search/index.js';
import type { SkillSearch } from '../tools/index.js';
import { indexableUpstreamTools, type UpstreamsService } from '../upstreams/index.js';

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

/**
 * The connector's tools as search documents (`<server>__<tool>`): a user's own server's tools owned by them, a
 * shared server's by everybody (null); search keeps each caller to their own tool list. Any change of a server
 * (definition, catalog from tools/list_changed or a reconnection, deletion, here or through the bus) re-syncs.
 */
export function upstreamToolsSource(upstreams: UpstreamsService): SearchSource {
  return listSource(
    'tool',
    async () => (await indexableUpstreamTools(upstreams)).map(toolDocument),
    (listener) => {
      const relay = () => listener();
      upstreams.events.on('change', relay);
      return () => upstreams.events.off('change', relay);
    },
  );
}
