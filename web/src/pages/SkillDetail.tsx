import { useEffect, useMemo, useState } from 'react';
import type { MouseEvent, ReactNode } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { Skill, SkillFile, SkillVersion } from '../api/types';
import { useAuth } from '../auth';
import { ConfirmDialog } from '../components/Dialog';
import { PageHeader } from '../components/Layout';
import { SkillUploader } from '../components/SkillUploader';
import { toast } from '../components/Toaster';
import {
  Alert,
  Badge,
  Button,
  Card,
  EmptyState,
  ErrorRetry,
  ErrorText,
  FormError,
  Icon,
  ListStates,
  Loading,
  LoadingLines,
  Skeleton,
  Switch,
} from '../components/ui';
import { formatBytes, formatDate, formatRelative, plural } from '../lib/format';
import { useAction, useAsync, useDocumentTitle, useRowActions } from '../lib/hooks';
import type { AsyncState } from '../lib/hooks';
import { renderMarkdown } from '../lib/markdown';
import { mcpUnlistedWarning } from '../lib/mcp';
import { resolveSkillPath } from '../lib/paths';
import { Link, navigate } from '../router';
import { McpUnlistedBadge, SkillBadges } from './Skills';

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

// ---------------------------------------------------------------------------------------------------

function SettingsCard({
  skill,
  isAdmin,
  onChange,
}: {
  skill: Skill;
  isAdmin: boolean;
  onChange: (s: Skill) => void;
}) {
  const { busy, errors, run } = useRowActions();
  const own = skill.origin === 'own';

  const patch = (key: 'enabled' | 'run_commands_enabled' | 'shared' | 'hidden', value: boolean) =>
    run(key, async () => {
      onChange(await endpoints.updateSkill(skill.name, { [key]: value }));
    });

  return (
    <Card headingId="settings-heading" title="Settings">
      <div className="stack">
        {own ? (
          <>
            <Switch
              label="Enabled"
              description="Disabled skills are hidden from MCP clients."
              checked={skill.enabled}
              busy={busy === 'enabled'}
              error={errors.enabled}
              onChange={(v) => patch('enabled', v)}
            />
            <Switch
              label="Allow running commands"
              description="Lets MCP clients run this skill's scripts through the server."
              checked={skill.run_commands_enabled}
              busy={busy === 'run_commands_enabled'}
              error={errors.run_commands_enabled}
              onChange={(v) => patch('run_commands_enabled', v)}
            />
            {isAdmin && (
              <Switch
                label="Shared with all users"
                description="Every user on this server can use a shared skill."
                checked={skill.shared}
                busy={busy === 'shared'}
                error={errors.shared}
                onChange={(v) => patch('shared', v)}
              />
            )}
          </>
        ) : (
          <Switch
            label="Hide from my library"
            description="Hidden shared skills are not offered to your MCP clients."
            checked={skill.hidden}
            busy={busy === 'hidden'}
            error={errors.hidden}
            onChange={(v) => patch('hidden', v)}
          />
        )}
      </div>
    </Card>
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

// ---------------------------------------------------------------------------------------------------
// Versions

function VersionsSection({
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

// ---------------------------------------------------------------------------------------------------
// Files

interface Dir {
  name: string;
  path: string;
  dirs: Map<string, Dir>;
  files: SkillFile[];
}

function buildTree(files: SkillFile[]): Dir {
  const root: Dir = { name: '', path: '', dirs: new Map(), files: [] };
  for (const f of files) {
    const parts = f.path.split('/');
    let d = root;
    for (const part of parts.slice(0, -1)) {
      let next = d.dirs.get(part);
      if (!next) {
        next = { name: part, path: d.path ? `${d.path}/${part}` : part, dirs: new Map(), files: [] };
        d.dirs.set(part, next);
      }
      d = next;
    }
    d.files.push(f);
  }
  return root;
}

function pickDefault(files: SkillFile[]): string | null {
  const skillMd = files
    .filter((f) => /(^|\/)skill\.md$/i.test(f.path))
    .sort((a, b) => a.path.split('/').length - b.path.split('/').length)[0];
  return (skillMd ?? files.find((f) => /\.md$/i.test(f.path)) ?? files[0])?.path ?? null;
}

function FileBrowser({
  skill,
  version,
  versions,
  onVersionChange,
}: {
  skill: Skill;
  version: number;
  versions: SkillVersion[] | null;
  onVersionChange: (v: number) => void;
}) {
  const filesRes = useAsync((_s) => endpoints.listFiles(skill.name, version), [skill.name, version]);
  const files = filesRes.data?.files ?? null;
  const [selected, setSelected] = useState<string | null>(null);

  useEffect(() => {
    if (!files) return;
    setSelected((cur) => (cur && files.some((f) => f.path === cur) ? cur : pickDefault(files)));
  }, [files]);

  const tree = useMemo(
    () => (files ? buildTree([...files].sort((a, b) => a.path.localeCompare(b.path))) : null),
    [files],
  );
  const file = files?.find((f) => f.path === selected) ?? null;

  return (
    <section className="card files-card" aria-labelledby="files-heading">
      <div className="card-title-row">
        <h2 id="files-heading" className="card-title">
          Files
        </h2>
        <div className="field inline-field">
          <label htmlFor="files-version">Version</label>
          <select
            id="files-version"
            value={version}
            onChange={(e) => onVersionChange(Number(e.currentTarget.value))}
          >
            {(versions ?? [{ number: version, label: null, is_current: true } as SkillVersion]).map((v) => (
              <option key={v.number} value={v.number}>
                v{v.number}
                {v.label ? ` · ${v.label}` : ''}
                {v.number === skill.current_version ? ' (current)' : ''}
              </option>
            ))}
          </select>
        </div>
      </div>
      {filesRes.error ? (
        <ErrorRetry error={filesRes.error} onRetry={filesRes.reload} />
      ) : !files || !tree ? (
        <Loading label="Loading files…">
          <div className="files-layout">
            <div className="file-tree">
              <Skeleton lines={5} height={16} />
            </div>
            <div className="file-view">
              <Skeleton lines={10} height={14} />
            </div>
          </div>
        </Loading>
      ) : files.length === 0 ? (
        <EmptyState icon="file" title="No files in this version" />
      ) : (
        <div className="files-layout">
          <nav className="file-tree" aria-label="Files">
            <TreeDir dir={tree} selected={selected} onSelect={setSelected} root />
          </nav>
          <div className="file-view">
            {file ? (
              <FileViewer
                key={`${version}:${file.path}`}
                skill={skill.name}
                version={version}
                file={file}
                onOpenPath={(p) => {
                  if (files.some((f) => f.path === p)) {
                    setSelected(p);
                    return true;
                  }
                  return false;
                }}
              />
            ) : null}
          </div>
        </div>
      )}
    </section>
  );
}

const isSkillMd = (p: string) => /^skill\.md$/i.test(p);

function TreeFile({
  file,
  selected,
  onSelect,
}: {
  file: SkillFile;
  selected: string | null;
  onSelect: (p: string) => void;
}) {
  const base = file.path.split('/').pop() ?? file.path;
  return (
    <li>
      <button
        type="button"
        className="tree-file"
        aria-current={selected === file.path ? 'true' : undefined}
        onClick={() => onSelect(file.path)}
        title={file.path}
      >
        <Icon name="file" />
        <span className="tree-name">{base}</span>
        {file.executable && (
          <span className="tree-exec" title="Executable">
            <span aria-hidden="true">exec</span>
            <span className="visually-hidden">, executable</span>
          </span>
        )}
      </button>
    </li>
  );
}

/** Folders first (SKILL.md pinned on top at the root), then files, alphabetically. */
function TreeDir({
  dir,
  selected,
  onSelect,
  root = false,
}: {
  dir: Dir;
  selected: string | null;
  onSelect: (p: string) => void;
  root?: boolean;
}) {
  const dirs = [...dir.dirs.values()].sort((a, b) => a.name.localeCompare(b.name));
  const pinned = root ? dir.files.filter((f) => isSkillMd(f.path)) : [];
  const rest = dir.files.filter((f) => !pinned.includes(f));
  const list = (
    <ul className="tree">
      {pinned.map((f) => (
        <TreeFile key={f.path} file={f} selected={selected} onSelect={onSelect} />
      ))}
      {dirs.map((d) => (
        <li key={d.path}>
          <details open>
            <summary>
              <Icon name="folder" />
              {d.name}
            </summary>
            <TreeDir dir={d} selected={selected} onSelect={onSelect} />
          </details>
        </li>
      ))}
      {rest.map((f) => (
        <TreeFile key={f.path} file={f} selected={selected} onSelect={onSelect} />
      ))}
    </ul>
  );
  return root ? <div className="tree-root">{list}</div> : list;
}

const TEXT_EXT =
  /\.(md|markdown|txt|py|js|mjs|cjs|ts|tsx|jsx|json|ya?ml|toml|ini|cfg|conf|sh|bash|zsh|fish|ps1|bat|rb|go|rs|java|kt|c|h|cc|cpp|hpp|cs|php|pl|lua|r|sql|html?|css|scss|xml|svg|csv|tsv|env|gitignore|dockerfile|makefile|lock|license)$/i;
const TEXT_NAMES = /(^|\/)(LICENSE|README|Makefile|Dockerfile|NOTICE|CHANGELOG)[^/]*$/;

function isTextual(file: SkillFile): boolean {
  const ct = file.content_type.toLowerCase();
  return (
    ct.startsWith('text/') ||
    /json|xml|yaml|toml|javascript|typescript|x-sh|x-python|markdown|x-shellscript/.test(ct) ||
    TEXT_EXT.test(file.path) ||
    TEXT_NAMES.test(file.path)
  );
}

type Loaded =
  | { kind: 'text'; text: string }
  | { kind: 'image'; url: string }
  | { kind: 'binary' }
  | { kind: 'too-large' };

const MAX_TEXT = 1024 * 1024;
const MAX_IMAGE = 5 * 1024 * 1024;

function blobToDataUrl(blob: Blob, type: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('Could not read the image'));
    reader.readAsDataURL(blob.type ? blob : new Blob([blob], { type }));
  });
}

function FileViewer({
  skill,
  version,
  file,
  onOpenPath,
}: {
  skill: string;
  version: number;
  file: SkillFile;
  /** Opens another file of the skill; false when it does not exist. */
  onOpenPath: (path: string) => boolean;
}) {
  const [linkError, setLinkError] = useState<string | null>(null);
  const onMarkdownClick = (e: MouseEvent<HTMLElement>) => {
    const a = (e.target as Element).closest('a');
    const href = a?.getAttribute('href');
    // Relative links point at other files of the skill: open them here instead of navigating away.
    if (!href || /^([a-z][a-z0-9+.-]*:|#|\/\/)/i.test(href)) return;
    e.preventDefault();
    let target: string;
    try {
      target = resolveSkillPath(file.path, href);
    } catch {
      target = href;
    }
    setLinkError(onOpenPath(target) ? null : `${target} is not part of this version.`);
  };
  const isMd = /\.(md|markdown)$/i.test(file.path);
  const [mode, setMode] = useState<'rendered' | 'source'>(isMd ? 'rendered' : 'source');
  const [dlError, setDlError] = useState<unknown>(null);

  const res = useFileContent(skill, version, file);

  const md = useMemo(
    () => (isMd && res.data?.kind === 'text' ? renderMarkdown(res.data.text) : null),
    [isMd, res.data],
  );

  const downloadThis = async () => {
    setDlError(null);
    try {
      const blob = await endpoints.fileBlob(skill, version, file.path);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = file.path.split('/').pop() ?? 'file';
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 30_000);
    } catch (err) {
      setDlError(err);
    }
  };

  return (
    <div className="viewer">
      <div className="viewer-head">
        <p className="viewer-path">
          <code>{file.path}</code>
          <span className="muted small">
            {formatBytes(file.size)}
            {file.executable ? ' · executable' : ''}
          </span>
        </p>
        <div className="viewer-tools">
          {isMd && res.data?.kind === 'text' && (
            <div className="segmented small" role="group" aria-label="View as">
              <button type="button" aria-pressed={mode === 'rendered'} onClick={() => setMode('rendered')}>
                Rendered
              </button>
              <button type="button" aria-pressed={mode === 'source'} onClick={() => setMode('source')}>
                Source
              </button>
            </div>
          )}
          <Button size="sm" variant="ghost" onClick={downloadThis} aria-label={`Download ${file.path}`}>
            <Icon name="download" />
          </Button>
        </div>
      </div>
      <ErrorText error={dlError} />
      <div className="viewer-body">
        <FileBody
          file={file}
          res={res}
          md={md && mode === 'rendered' ? md : null}
          linkError={linkError}
          onMarkdownClick={onMarkdownClick}
        />
      </div>
    </div>
  );
}

function useFileContent(skill: string, version: number, file: SkillFile) {
  const imageType = /^image\/(png|jpe?g|gif|webp|svg\+xml)$/i.test(file.content_type);
  return useAsync<Loaded>(
    async (signal) => {
      if (!imageType && !isTextual(file)) return { kind: 'binary' };
      if (file.size > (imageType ? MAX_IMAGE : MAX_TEXT)) return { kind: 'too-large' };
      const blob = await endpoints.fileBlob(skill, version, file.path, signal);
      // The server's CSP allows `data:` images but not `blob:`, so images are inlined as data URLs.
      if (imageType) return { kind: 'image', url: await blobToDataUrl(blob, file.content_type) };
      const bytes = new Uint8Array(await blob.arrayBuffer());
      if (bytes.subarray(0, 8000).includes(0)) return { kind: 'binary' };
      return { kind: 'text', text: new TextDecoder().decode(bytes) };
    },
    [skill, version, file.path],
  );
}

function FileBody({
  file,
  res,
  md,
  linkError,
  onMarkdownClick,
}: {
  file: SkillFile;
  res: AsyncState<Loaded>;
  /** The rendered Markdown, when it is shown. */
  md: ReturnType<typeof renderMarkdown> | null;
  linkError: string | null;
  onMarkdownClick: (e: MouseEvent<HTMLElement>) => void;
}) {
  return res.error ? (
    <ErrorText error={res.error} />
  ) : res.loading || !res.data ? (
    <Loading label="Loading file…">
      <Skeleton lines={8} height={14} />
    </Loading>
  ) : res.data.kind === 'binary' ? (
    <p className="muted viewer-note">
      Binary file ({file.content_type || 'unknown type'}) — download it to inspect.
    </p>
  ) : res.data.kind === 'too-large' ? (
    <p className="muted viewer-note">
      This file is too large to preview ({formatBytes(file.size)}). Download it instead.
    </p>
  ) : res.data.kind === 'image' ? (
    <img className="viewer-image" src={res.data.url} alt={file.path} />
  ) : md ? (
    <>
      {md.frontmatter !== null && (
        <pre className="frontmatter" tabIndex={0} role="region" aria-label="Front matter">
          <code>{md.frontmatter}</code>
        </pre>
      )}
      <FormError message={linkError} />
      <article className="markdown" onClick={onMarkdownClick} dangerouslySetInnerHTML={{ __html: md.html }} />
    </>
  ) : (
    <pre className="source" tabIndex={0} role="region" aria-label={`Contents of ${file.path}`}>
      <code>{res.data.text}</code>
    </pre>
  );
}
