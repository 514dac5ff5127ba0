/** Public surface of the pure skill-package library (no database, no HTTP). */
export {
  DEFAULT_ARCHIVE_LIMITS,
  readSkillArchive,
  readSkillFolder,
  type ArchiveLimits,
  type SkillFile,
  type SkillFiles,
  type SkippedEntry,
} from './archive.js';
export {
  createSkillZipStream,
  skillZipBuffer,
  writeSkillZip,
  type ZipInputFile,
  type ZipWriteOptions,
} from './zip-writer.js';
export {
  KNOWN_FRONTMATTER_KEYS,
  FRONTMATTER_LIMITS,
  MAX_COMPATIBILITY_LENGTH,
  MAX_DESCRIPTION_LENGTH,
  MAX_NAME_LENGTH,
  decodeUtf8Strict,
  isValidSkillName,
  normalizeSkillName,
  parseSkillMd,
  validateSkillName,
  type ParsedSkill,
} from './skill-md.js';
export { contentTypeFor, isText, isTextType } from './content-type.js';
