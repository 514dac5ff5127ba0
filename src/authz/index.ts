/**
 * Public surface of the authorization room: one place that says who may do what. Routes declare the action they
 * need (`requirePermission` in `http/`); services call `authorize(actor, action, resource)`; the tool layer asks
 * `may()`. Policies are plain predicates over the acting `Principal`, one file per resource.
 */
export { ACTIONS, authorize, may, refusalOf, scopeFor, type Action, type ResourceOf } from './authorize.js';
export { definePolicy, type Policy, type Rule } from './policy.js';
export { SESSION_SCOPES } from './policies/sessions.js';
export type { KeyPermissionName } from './policies/api-keys.js';
export type { SkillRef } from './policies/skills.js';
