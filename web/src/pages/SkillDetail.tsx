import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { Skill } from '../api/types';
import { useAuth } from '../auth';
import { ConfirmDialog } from '../components/Dialog';
import { PageHeader } from '../components/Layout';
import { SkillUploader } from '../components/SkillUploader';
import { toast } from '../components/Toaster';
import {
  Alert,
  Button,
  Card,
  EmptyState,
  ErrorRetry,
  ErrorText,
  Icon,
  Loading,
  Skeleton,
} from '../components/ui';
import { formatBytes, formatDate, plural } from '../lib/format';
import { useAction, useAsync, useDocumentTitle } from '../lib/hooks';
import { mcpUnlistedWarning } from '../lib/mcp';
import { Link, navigate } from '../router';
import { FileBrowser } from './SkillFiles';
import { SettingsCard } from './SkillSettings';
import { SkillBadges } from './Skills';
import { VersionsSection } from './SkillVersions';

export function SkillDetailPage({ name }: { name: string }) {
  useDocumentTitle(name);
  const { user } = useAuth();
  const skillRes = useAsync((_s) => endpoints.getSkill(name), [name]);
  const versionsRes = useAsync((_s) => endpoints.listVersions(name), [name]);
  const skill = skillRes.data;
  const [browseVersion, setBrowseVersion] = useState<number | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);

  useEffect(() => setBrowseVersion(null), [name]);
  const version = browseVersion ?? skill?.current_version ?? null;

  const onSkillChange = (s: Skill) => skillRes.setData(s);
  const reloadVersions = () => versionsRes.reload();

  if (skillRes.error) return <SkillLoadError name={name} error={skillRes.error} onRetry={skillRes.reload} />;
  if (!skill) return <SkillSkeleton />;

  const own = skill.origin === 'own';

  return (
    <>
      <SkillHeader skill={skill} onDelete={() => setConfirmDelete(true)} />

      <SkillWarnings warnings={skill.warnings} />

      <div className="detail-grid">
        <div className="detail-main">
          {version !== null && (
            <FileBrowser
              skill={skill}
              version={version}
              versions={versionsRes.data?.items ?? null}
              onVersionChange={(v) => setBrowseVersion(v === skill.current_version ? null : v)}
            />
          )}
          <VersionsSection
            skill={skill}
            versions={versionsRes.data?.items ?? null}
            error={versionsRes.error}
            onRetry={reloadVersions}
            browseVersion={version}
            onBrowse={(v) => {
              setBrowseVersion(v === skill.current_version ? null : v);
              document
                .getElementById('files-heading')
                ?.scrollIntoView({ behavior: 'smooth', block: 'start' });
            }}
            onRolledBack={(s) => {
              onSkillChange(s);
              setBrowseVersion(null);
              reloadVersions();
            }}
            onDeleted={(n) => {
              versionsRes.setData((prev) =>
                prev ? { ...prev, items: prev.items.filter((v) => v.number !== n) } : prev,
              );
              if (browseVersion === n) setBrowseVersion(null);
            }}
          />
        </div>
        <aside className="detail-aside">
          <SettingsCard skill={skill} isAdmin={!!user?.is_admin} onChange={onSkillChange} />
          <DetailsCard skill={skill} />
          {own && (
            <Card headingId="new-version-heading" title="Upload a new version">
              <SkillUploader
                compact
                skillName={skill.name}
                onUploaded={(r) => {
                  onSkillChange(r.skill);
                  setBrowseVersion(null);
                  reloadVersions();
                  toast(`Version ${r.version.number} uploaded and made current`);
                }}
              />
            </Card>
          )}
        </aside>
      </div>

      <DeleteSkillDialog name={skill.name} open={confirmDelete} onClose={() => setConfirmDelete(false)} />
    </>
  );
}

function SkillHeader({ skill, onDelete }: { skill: Skill; onDelete: () => void }) {
  const downloadAction = useAction();
  const download = () =>
    downloadAction.run(() => endpoints.downloadVersion(skill.name, skill.current_version));
  return (
    <>
      <PageHeader
        back={{ to: '/skills', label: 'Skills' }}
        title={skill.name}
        description={skill.description}
        actions={
          <>
            <Button onClick={download} busy={downloadAction.busy}>
              <Icon name="download" />
              Download
            </Button>
            {skill.origin === 'own' && (
              <Button variant="danger" onClick={onDelete}>
                Delete skill
              </Button>
            )}
          </>
        }
      />
      <div className="header-meta">
        <SkillBadges skill={skill} />
        <ErrorText error={downloadAction.error} />
      </div>
    </>
  );
}

function SkillLoadError({ name, error, onRetry }: { name: string; error: unknown; onRetry: () => void }) {
  const notFound = error instanceof ApiError && error.status === 404;
  return (
    <>
      <PageHeader back={{ to: '/skills', label: 'Skills' }} title={name} />
      {notFound ? (
        <EmptyState
          icon="search"
          title="Skill not found"
          action={
            <Link to="/skills" className="btn btn-secondary">
              Back to skills
            </Link>
          }
        >
          <p>There is no skill called “{name}” in your library. It may have been deleted or renamed.</p>
        </EmptyState>
      ) : (
        <ErrorRetry error={error} onRetry={onRetry} />
      )}
    </>
  );
}

function SkillSkeleton() {
  return (
    <Loading label="Loading skill…">
      <div className="page-header">
        <Skeleton height={14} className="w-20" />
        <Skeleton height={32} className="w-40" />
        <Skeleton height={16} className="w-60" />
      </div>
      <div className="detail-grid">
        <div className="card">
          <Skeleton lines={8} height={14} />
        </div>
        <div className="card">
          <Skeleton lines={5} height={14} />
        </div>
      </div>
    </Loading>
  );
}

function SkillWarnings({ warnings }: { warnings: string[] }) {
  const unlisted = mcpUnlistedWarning(warnings);
  const otherWarnings = warnings.filter((w) => w !== unlisted);
  const capitalize = (t: string) => t.charAt(0).toUpperCase() + t.slice(1);
  return (
    <>
      {unlisted && (
        <Alert
          kind="warning"
          title="MCP clients' skills/list will not show this skill"
          className="mb mcp-unlisted"
        >
          <p>{capitalize(unlisted.slice(unlisted.indexOf(':') + 1).trim())}</p>
        </Alert>
      )}
      {otherWarnings.length > 0 && (
        <Alert kind="warning" title={`${plural(otherWarnings.length, 'validation warning')}`} className="mb">
          <ul>
            {otherWarnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
        </Alert>
      )}
    </>
  );
}

function DeleteSkillDialog({ name, open, onClose }: { name: string; open: boolean; onClose: () => void }) {
  return (
    <ConfirmDialog
      open={open}
      title={`Delete ${name}?`}
      confirmLabel="Delete skill"
      danger
      onClose={onClose}
      onConfirm={async () => {
        await endpoints.deleteSkill(name);
        onClose();
        toast(`Deleted ${name}`);
        navigate('/skills');
      }}
    >
      <p>
        This permanently deletes the skill and all of its versions. MCP clients will no longer see it. This
        cannot be undone.
      </p>
    </ConfirmDialog>
  );
}

function Row({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="details-row">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function DetailsCard({ skill }: { skill: Skill }) {
  const meta = Object.entries(skill.metadata ?? {});
  return (
    <Card headingId="details-heading" title="Details">
      <dl className="details">
        <Row term="Current version">
          {skill.current_version}
          {skill.version_label ? ` (${skill.version_label})` : ''}
        </Row>
        <Row term="Files">
          {skill.file_count} · {formatBytes(skill.size_bytes)}
        </Row>
        <Row term="Origin">{skill.origin === 'own' ? 'Your skill' : 'Shared by an administrator'}</Row>
        {skill.license && <Row term="License">{skill.license}</Row>}
        {skill.compatibility && <Row term="Compatibility">{skill.compatibility}</Row>}
        {meta.map(([k, v]) => (
          <Row key={k} term={k}>
            {typeof v === 'string' ? v : JSON.stringify(v)}
          </Row>
        ))}
        <Row term="Created">{formatDate(skill.created_at)}</Row>
        <Row term="Updated">{formatDate(skill.updated_at)}</Row>
      </dl>
    </Card>
  );
}
