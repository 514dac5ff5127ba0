import { useEffect, useMemo, useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { Skill, SkillFile, SkillVersion } from '../api/types';
import { EmptyState, ErrorRetry, Icon, Loading, Skeleton } from '../components/ui';
import { useAsync } from '../lib/hooks';
import { FileViewer } from './SkillFileViewer';

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

export function FileBrowser({
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
