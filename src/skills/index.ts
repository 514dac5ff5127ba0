/** Public surface of the skill library room. */
export { DatabaseBlobStore, type BlobStore } from './blob-store.js';
export { S3BlobStore, BlobIntegrityError, BACKUP_LOCK, type S3Settings } from './blob-store-s3.js';
export { migrateBlobs, type MigrationReport } from './blob-migrate.js';
export {
  SkillsService,
  type LoadedSkill,
  type SkillChange,
  type ListQuery,
  type UploadResult,
  visibleTo,
} from './service.js';
export { skillsRoutes } from './routes.js';
export { Uploads, sweepStaleUploadDirs, type UploadOptions } from './upload.js';
export { contentTypeFor, isText, isTextType } from './content-type.js';
export { readSkillFolder, type ArchiveLimits, type SkillFiles } from './package/index.js';
export { exportSkills, findSkillFolders, importSkillFolders, type ImportReport } from './transfer.js';
