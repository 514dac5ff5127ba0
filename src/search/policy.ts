import { ADMINS_ONLY, anyone, definePolicy, isAdmin } from '../authz/policy.js';

/**
 * Who may do what with search (the `search` resource of `authz/`). Anyone with the REST API may query: what a
 * query returns is already narrowed to the caller's view (the skills' visibility rule and the key's restriction,
 * `scopes()` in `service.ts`). The index's status and a re-index are for administrators.
 */
export const searchPolicy = definePolicy({
  scope: 'api',
  rules: { query: anyone, admin: isAdmin },
  denied: { admin: ADMINS_ONLY },
});
