import { ADMINS_ONLY, anyone, definePolicy, isAdmin } from '../policy.js';

/** Every user manages their own account; accounts of others are administrators' business. */
export const usersPolicy = definePolicy({
  scope: 'api',
  rules: {
    'read-self': anyone,
    'update-self': anyone,
    'change-password': anyone,
    'delete-self': anyone,
    list: isAdmin,
    create: isAdmin,
    update: isAdmin,
    delete: isAdmin,
    'set-password': isAdmin,
  },
  denied: {
    list: ADMINS_ONLY,
    create: ADMINS_ONLY,
    update: ADMINS_ONLY,
    delete: ADMINS_ONLY,
    'set-password': ADMINS_ONLY,
  },
});
