import { definePolicy, isAdmin } from '../policy.js';

/**
 * Prometheus metrics: an administrator's credential (or the operator's `METRICS_TOKEN`, which is no principal
 * and is checked by the metrics route itself).
 */
export const metricsPolicy = definePolicy({
  scope: 'api',
  rules: { read: isAdmin },
});
