/** Model providers: configuration (sealed keys), connectivity checks and AI SDK model instances. */
export { ProvidersService, ENV_PROVIDER_ID, type ProviderView, type ProviderInput } from './service.js';
export { languageModel, embeddingModel, type ProviderConnection, type ProviderKind } from './models.js';
