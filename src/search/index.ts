/** Public surface of the search room: hybrid search, its indexer and durable job queue, embeddings access. */
export { openSearch, type SearchRoom, type SearchRoomOptions } from './room.js';
export {
  SearchService,
  type SearchAnswer,
  type SearchHit,
  type SearchQuery,
  type MatchKind,
} from './service.js';
export { SearchIndexer, SYNC_JOB, EMBED_JOB } from './indexer.js';
export { JobQueue, type JobHandler, type JobContext, type JobRow } from './jobs.js';
export {
  embeddingsSettings,
  openAiCompatibleEmbedder,
  type Embedder,
  type EmbeddingsSettings,
} from './embeddings.js';
export { skillsSource } from './skills-source.js';
export type { SearchSource, SearchDocumentInput, DocumentKind } from './documents.js';
export { listSource } from './list-source.js';
export { toolDocument, type ToolDescription } from './tool-documents.js';
