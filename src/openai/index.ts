/**
 * Public surface of the OpenAI-compatible edge (`/v1`): its routes over the assistants and the tool layer, and the
 * store of hidden tool steps between the requests of a mixed-mode turn. The composition root mounts them
 * (`server/http-app.ts`).
 */
export { openAiRoutes } from './endpoints.js';
export { PendingToolTurns } from './pending.js';
