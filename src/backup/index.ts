/** Public surface of the backup room: one consistent archive of the database and every blob, and back. */
export { createBackup, backupFileName, type BackupOptions, type Manifest } from './backup.js';
export { restoreBackup, verifyBackup, BackupError, type RestoreOptions } from './restore.js';
export { pruneBackups } from './retention.js';
