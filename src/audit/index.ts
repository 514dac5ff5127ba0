/** Public surface of the audit room: the security event log. */
export {
  completeAudit,
  listAudit,
  recordAudit,
  type AuditEntry,
  type AuditEventView,
  type AuditQuery,
} from './service.js';
