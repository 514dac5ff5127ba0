/** Assistants: a model, a system prompt and a tool selection, owned by a user and callable as a model. */
export { AssistantsService, toAssistantView, type AssistantRow, type AssistantView } from './service.js';
export { assistantPrincipal, selectTools } from './tools.js';
export { ChatSessions, type SessionTurn, type SessionView } from './sessions.js';
