import { ADMINS_ONLY, definePolicy, isAdmin } from '../policy.js';

/** Server-wide run-time settings: administrators only. */
export const settingsPolicy = definePolicy({
  scope: 'api',
  rules: { read: isAdmin, update: isAdmin },
  denied: { read: ADMINS_ONLY, update: ADMINS_ONLY },
});
