import { useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { Skill, SkillVersion } from '../api/types';
import { ConfirmDialog } from '../components/Dialog';
import { toast } from '../components/Toaster';
import { Badge, Button, Card, EmptyState, FormError, Icon, ListStates, LoadingLines } from '../components/ui';
import { formatBytes, formatDate, formatRelative, plural } from '../lib/format';
import { useRowActions } from '../lib/hooks';
import { mcpUnlistedWarning } from '../lib/mcp';
import { McpUnlistedBadge } from './Skills';

export function VersionsSection({
  skill,
  versions,
  error,
  onRetry,
  browseVersion,
  onBrowse,
  onRolledBack,
  onDeleted,
}: {
  skill: Skill;
  versions: SkillVersion[] | null;
  error: unknown;
  onRetry: () => void;
  browseVersion: number | null;
  onBrowse: (n: number) => void;
  onRolledBack: (s: Skill) => void;
  onDeleted: (n: number) => void;
}) {
  const own = skill.origin === 'own';
  const rows = useRowActions({ oneError: true });
  const [confirmDelete, setConfirmDelete] = useState<number | null>(null);

  const act = (n: number, kind: 'rollback' | 'download') =>
    rows.run(
      `${kind}-${n}`,
      async () => {
        if (kind === 'rollback') {
          const s = await endpoints.rollback(skill.name, n);
          onRolledBack(s);
          toast(`Rolled back to version ${n}`);
        } else {
          await endpoints.downloadVersion(skill.name, n);
        }
      },
      { row: String(n) },
    );

  return (
    <Card headingId="versions-heading" title="Versions">
      <ListStates
        items={versions}
        error={error}
        onRetry={onRetry}
        placeholder={<LoadingLines label="Loading versions…" lines={3} height={40} />}
        empty={
          <EmptyState icon="list" title="No versions">
            <p>This skill has no stored versions.</p>
          </EmptyState>
        }
      >
        {(items) => (
          <ul className="version-list">
            {items.map((v) => (
              <VersionRow
                key={v.number}
                v={v}
                current={v.number === skill.current_version}
                own={own}
                browsing={browseVersion === v.number}
                busy={rows.busy}
                error={rows.errors[v.number]}
                onBrowse={onBrowse}
                onAct={act}
                onDelete={setConfirmDelete}
              />
            ))}
          </ul>
        )}
      </ListStates>
      <ConfirmDialog
        open={confirmDelete !== null}
        title={`Delete version ${confirmDelete ?? ''}?`}
        confirmLabel="Delete version"
        danger
        onClose={() => setConfirmDelete(null)}
        onConfirm={async () => {
          if (confirmDelete === null) return;
          const n = confirmDelete;
          await endpoints.deleteVersion(skill.name, n);
          setConfirmDelete(null);
          onDeleted(n);
          toast(`Deleted version ${n}`);
        }}
      >
        <p>This version's files are removed for good. You will no longer be able to roll back to it.</p>
      </ConfirmDialog>
    </Card>
  );
}

function VersionRow({
  v,
  current,
  own,
  browsing,
  busy,
  error,
  onBrowse,
  onAct,
  onDelete,
}: {
  v: SkillVersion;
  current: boolean;
  own: boolean;
  browsing: boolean;
  /** The busy row action's key (`rollback-3`, `download-3`). */
  busy: string | null;
  error: string | undefined;
  onBrowse: (n: number) => void;
  onAct: (n: number, kind: 'rollback' | 'download') => void;
  onDelete: (n: number) => void;
}) {
  return (
    <li className={`version-row ${current ? 'is-current' : ''}`}>
      <div className="version-info">
        <p className="version-title">
          <strong>Version {v.number}</strong>
          {v.label && <span className="muted"> · {v.label}</span>}
          {current && <Badge tone="success">Current</Badge>}
          {browsing && !current && <Badge tone="accent">Browsing</Badge>}
          {mcpUnlistedWarning(v.warnings) && <McpUnlistedBadge />}
          {v.warnings.length > 0 && (
            <Badge tone="warning" title={v.warnings.join('\n')}>
              {plural(v.warnings.length, 'warning')}
            </Badge>
          )}
        </p>
        <p className="muted small">
          <span title={formatDate(v.created_at)}>{formatRelative(v.created_at)}</span> ·{' '}
          {plural(v.file_count, 'file')} · {formatBytes(v.size_bytes)}
        </p>
      </div>
      <div className="version-actions">
        <Button
          size="sm"
          variant="ghost"
          onClick={() => onBrowse(v.number)}
          aria-label={`Browse files of version ${v.number}`}
        >
          Files
        </Button>
        <Button
          size="sm"
          variant="ghost"
          busy={busy === `download-${v.number}`}
          onClick={() => onAct(v.number, 'download')}
          aria-label={`Download version ${v.number}`}
        >
          <Icon name="download" />
        </Button>
        {own && !current && (
          <>
            <Button
              size="sm"
              busy={busy === `rollback-${v.number}`}
              onClick={() => onAct(v.number, 'rollback')}
              aria-label={`Roll back to version ${v.number}`}
            >
              Roll back
            </Button>
            <Button
              size="sm"
              variant="ghost"
              className="text-danger"
              onClick={() => onDelete(v.number)}
              aria-label={`Delete version ${v.number}`}
            >
              Delete
            </Button>
          </>
        )}
      </div>
      <FormError message={error} className="version-error" />
    </li>
  );
}
