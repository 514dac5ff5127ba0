import { anyone, definePolicy, isAdmin } from '../policy.js';

/** Everyone reads their own security events; administrators read everybody's (and may filter by actor). */
export const auditPolicy = definePolicy({
  scope: 'api',
  rules: { list: anyone, 'list-all': isAdmin },
});
