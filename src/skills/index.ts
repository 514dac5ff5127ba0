/** Public surface of the skill library room. */
export { DatabaseBlobStore, type BlobStore } from './blob-store.js';
export {
  S3BlobStore,
  BlobIntegrityError,
  BACKUP_LOCK,
  lockDigest,
  rowsOf,
  type S3Settings,
} from './blob-store-s3.js';
export { migrateBlobs, type MigrationReport } from './blob-migrate.js';
export {
  SkillsService,
  type LoadedSkill,
  type SkillChange,
  type ListQuery,
  type UploadResult,
  visibleTo,
} from './service.js';
export { Uploads, sweepStaleUploadDirs, type UploadOptions } from './upload.js';
export { contentTypeFor, isText, isTextType } from './package/index.js';
export {
  DEFAULT_ARCHIVE_LIMITS,
  decodeUtf8Strict,
  parseSkillMd,
  readSkillFolder,
  type ArchiveLimits,
  type SkillFiles,
} from './package/index.js';
export { exportSkills, findSkillFolders, importSkillFolders, type ImportReport } from './transfer.js';
