import type { tables } from '../db/index.js';
import { contentTypeFor } from './package/index.js';

type SkillRow = typeof tables.skills.$inferSelect;
type VersionRow = typeof tables.skillVersions.$inferSelect;
type FileRow = Pick<typeof tables.versionFiles.$inferSelect, 'path' | 'size' | 'executable' | 'sha256'>;

export interface SkillView {
  id: string;
  name: string;
  description: string;
  /** `own` for the caller's skills, `shared` for ones an admin published to everybody. */
  origin: 'own' | 'shared';
  enabled: boolean;
  hidden: boolean;
  shared: boolean;
  current_version: number;
  version_label: string | null;
  warnings: string[];
  file_count: number;
  size_bytes: number;
  license: string | null;
  compatibility: string | null;
  metadata: Record<string, string>;
  run_commands_enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface VersionView {
  number: number;
  label: string | null;
  created_at: string;
  file_count: number;
  size_bytes: number;
  is_current: boolean;
  warnings: string[];
}

export interface FileEntryView {
  path: string;
  size: number;
  executable: boolean;
  sha256: string;
  content_type: string;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function toSkillView(s: SkillRow, v: VersionRow, viewerId: string, hidden: boolean): SkillView {
  const fm = v.frontmatter;
  const metadata =
    fm.metadata && typeof fm.metadata === 'object'
      ? Object.fromEntries(Object.entries(fm.metadata as object).map(([k, val]) => [k, String(val)]))
      : {};
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    origin: s.ownerId === viewerId ? 'own' : 'shared',
    enabled: s.enabled,
    hidden,
    shared: s.shared,
    current_version: v.number,
    version_label: v.label,
    warnings: v.warnings,
    file_count: v.fileCount,
    size_bytes: v.sizeBytes,
    license: str(fm.license),
    compatibility: str(fm.compatibility),
    metadata,
    run_commands_enabled: s.runCommandsEnabled,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
  };
}

export const toVersionView = (v: VersionRow, currentId: string | null): VersionView => ({
  number: v.number,
  label: v.label,
  created_at: v.createdAt.toISOString(),
  file_count: v.fileCount,
  size_bytes: v.sizeBytes,
  is_current: v.id === currentId,
  warnings: v.warnings,
});

export const toFileEntryView = (f: FileRow): FileEntryView => ({
  path: f.path,
  size: f.size,
  executable: f.executable,
  sha256: f.sha256,
  content_type: contentTypeFor(f.path),
});
