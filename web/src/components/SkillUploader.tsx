import { useEffect, useId, useRef, useState } from 'react';
import type { DragEvent } from 'react';
import { ApiError, errorMessage } from '../api/client';
import type { UploadProgress } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { UploadResult } from '../api/types';
import { formatBytes, plural } from '../lib/format';
import { prepareDrop, prepareFiles, prepareFolderInput } from '../lib/zip';
import type { PreparedUpload } from '../lib/zip';
import { Link } from '../router';
import { Button, Icon } from './ui';

/**
 * Drop zone + pickers for a skill: a .zip/.skill file, or a folder (zipped here with fflate, keeping
 * relative paths). Uploads with XMLHttpRequest to report progress, and shows the API's per-entry errors
 * right under the control.
 */
export function SkillUploader({
  skillName,
  onUploaded,
  compact = false,
}: {
  /** Upload a new version of this skill; omit to create a new skill. */
  skillName?: string;
  onUploaded: (result: UploadResult) => void;
  compact?: boolean;
}) {
  const id = useId();
  const up = useSkillUpload(skillName, onUploaded);
  const { preparing, picked, phase, error } = up;
  const errorId = `${id}-error`;

  return (
    <div
      className={`uploader ${compact ? 'uploader-compact' : ''}`}
      role="group"
      aria-label={skillName ? 'Upload a new version' : 'Upload a skill'}
    >
      <DropZone id={id} skillName={skillName} upload={up} errorId={errorId} />

      <p className="visually-hidden" role="status">
        {preparing
          ? 'Preparing files…'
          : phase === 'uploading'
            ? 'Uploading…'
            : phase === 'processing'
              ? 'Upload complete; checking the skill…'
              : picked
                ? `${picked.label} is ready to upload.`
                : ''}
      </p>
      <div className="upload-status">
        {preparing && <p className="muted">Preparing files…</p>}
        {picked && <PickedUpload picked={picked} skillName={skillName} upload={up} />}
      </div>

      {error ? <UploadError id={errorId} error={error} /> : null}
    </div>
  );
}

type UploadState = ReturnType<typeof useSkillUpload>;

/** The uploader's state: preparing the picked files, then uploading them with progress (cancellable). */
function useSkillUpload(skillName: string | undefined, onUploaded: (result: UploadResult) => void) {
  const [preparing, setPreparing] = useState(false);
  const [picked, setPicked] = useState<PreparedUpload | null>(null);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [phase, setPhase] = useState<'idle' | 'uploading' | 'processing'>('idle');
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => () => abort.current?.abort(), []);

  const accept = async (prep: () => Promise<PreparedUpload>) => {
    setError(null);
    setPicked(null);
    setPreparing(true);
    try {
      setPicked(await prep());
    } catch (err) {
      setError(err);
    } finally {
      setPreparing(false);
    }
  };

  const upload = async () => {
    if (!picked) return;
    setError(null);
    setPhase('uploading');
    setProgress({ loaded: 0, total: picked.blob.size });
    const ctrl = new AbortController();
    abort.current = ctrl;
    const onProgress = (p: UploadProgress) => {
      setProgress(p);
      if (p.total > 0 && p.loaded >= p.total) setPhase('processing');
    };
    try {
      const result = skillName
        ? await endpoints.uploadVersion(skillName, picked.blob, onProgress, ctrl.signal)
        : await endpoints.createSkill(picked.blob, onProgress, ctrl.signal);
      setPicked(null);
      setPhase('idle');
      setProgress(null);
      onUploaded(result);
    } catch (err) {
      setPhase('idle');
      setProgress(null);
      if (!(err instanceof DOMException && err.name === 'AbortError')) setError(err);
    } finally {
      abort.current = null;
    }
  };

  const pct =
    progress && progress.total > 0 ? Math.min(100, Math.round((progress.loaded / progress.total) * 100)) : 0;
  return {
    preparing,
    picked,
    phase,
    error,
    pct,
    accept,
    upload,
    clear: () => setPicked(null),
    cancel: () => abort.current?.abort(),
  };
}

function DropZone({
  id,
  skillName,
  upload,
  errorId,
}: {
  id: string;
  skillName?: string;
  upload: UploadState;
  errorId: string;
}) {
  const { phase, error, accept } = upload;
  const [dragging, setDragging] = useState(false);
  const dragDepth = useRef(0);
  const busy = phase !== 'idle';

  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    dragDepth.current = 0;
    setDragging(false);
    if (phase !== 'idle') return;
    const dt = e.dataTransfer;
    void accept(() => prepareDrop(dt));
  };

  return (
    <div
      className={`dropzone ${dragging ? 'is-dragging' : ''} ${error ? 'has-error' : ''}`}
      onDragEnter={(e) => {
        e.preventDefault();
        dragDepth.current++;
        setDragging(true);
      }}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = busy ? 'none' : 'copy';
      }}
      onDragLeave={() => {
        dragDepth.current = Math.max(0, dragDepth.current - 1);
        if (dragDepth.current === 0) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <Icon name="upload" className="dropzone-icon" />
      <p className="dropzone-title">
        {skillName ? 'Drop a new version here' : 'Drop a skill folder or a .zip / .skill file here'}
      </p>
      <p className="dropzone-sub">The folder must contain a SKILL.md. Folders are zipped in your browser.</p>
      <Pickers id={id} busy={busy} accept={accept} describedBy={error ? errorId : undefined} />
    </div>
  );
}

/** The hidden file and folder inputs, and the buttons that open them. */
function Pickers({
  id,
  busy,
  accept,
  describedBy,
}: {
  id: string;
  busy: boolean;
  accept: UploadState['accept'];
  describedBy: string | undefined;
}) {
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    // React doesn't know the non-standard folder-picker attribute.
    folderInput.current?.setAttribute('webkitdirectory', '');
  }, []);

  return (
    <div className="dropzone-actions">
      <input
        ref={fileInput}
        id={`${id}-file`}
        type="file"
        accept=".zip,.skill,application/zip"
        className="visually-hidden"
        tabIndex={-1}
        aria-describedby={describedBy}
        disabled={busy}
        onChange={(e) => {
          const files = Array.from(e.currentTarget.files ?? []);
          e.currentTarget.value = '';
          if (files.length) void accept(() => prepareFiles(files.map((file) => ({ path: file.name, file }))));
        }}
      />
      <label htmlFor={`${id}-file`} className="visually-hidden">
        Skill archive (.zip or .skill)
      </label>
      <input
        ref={folderInput}
        id={`${id}-folder`}
        type="file"
        multiple
        className="visually-hidden"
        tabIndex={-1}
        disabled={busy}
        onChange={(e) => {
          const list = e.currentTarget.files;
          if (list && list.length) {
            const copy = Array.from(list);
            void accept(() => prepareFolderInput(copy));
          }
          e.currentTarget.value = '';
        }}
      />
      <label htmlFor={`${id}-folder`} className="visually-hidden">
        Skill folder
      </label>
      <Button onClick={() => fileInput.current?.click()} disabled={busy}>
        <Icon name="file" />
        Choose a file…
      </Button>
      <Button onClick={() => folderInput.current?.click()} disabled={busy}>
        <Icon name="folder" />
        Choose a folder…
      </Button>
    </div>
  );
}

function PickedUpload({
  picked,
  skillName,
  upload,
}: {
  picked: PreparedUpload;
  skillName?: string;
  upload: UploadState;
}) {
  const { phase, pct } = upload;
  return (
    <div className="picked">
      <div className="picked-info">
        <Icon name={picked.kind === 'folder' ? 'folder' : 'file'} />
        <span className="picked-name">{picked.label}</span>
        <span className="muted">
          {picked.fileCount !== null ? `${plural(picked.fileCount, 'file')}, ` : ''}
          {formatBytes(picked.blob.size)}
          {picked.kind !== 'archive' ? ' zipped' : ''}
        </span>
      </div>
      {picked.skipped.length > 0 && (
        <p className="muted small">
          Skipped system files: {picked.skipped.slice(0, 5).join(', ')}
          {picked.skipped.length > 5 ? '…' : ''}
        </p>
      )}
      {phase === 'idle' ? (
        <div className="picked-actions">
          <Button variant="primary" onClick={upload.upload}>
            <Icon name="upload" />
            {skillName ? 'Upload new version' : 'Upload skill'}
          </Button>
          <Button variant="ghost" onClick={upload.clear}>
            Clear
          </Button>
        </div>
      ) : (
        <div className="progress-row">
          <progress max={100} value={phase === 'processing' ? undefined : pct} aria-label="Upload progress">
            {pct}%
          </progress>
          <span className="progress-text">
            {phase === 'processing' ? 'Checking the skill…' : `Uploading… ${pct}%`}
          </span>
          {phase === 'uploading' && (
            <Button size="sm" variant="ghost" onClick={upload.cancel}>
              Cancel
            </Button>
          )}
        </div>
      )}
    </div>
  );
}

function UploadError({ id, error }: { id: string; error: unknown }) {
  const details =
    error instanceof ApiError ? (error.details as Record<string, unknown> | undefined) : undefined;
  const entry = typeof details?.entry === 'string' ? details.entry : null;
  const errors = Array.isArray(details?.errors) ? (details.errors as unknown[]).map(String) : [];
  const conflictName =
    error instanceof ApiError && error.code === 'conflict' && typeof details?.name === 'string'
      ? details.name
      : null;
  const title =
    error instanceof ApiError
      ? error.code === 'invalid_archive'
        ? 'This archive could not be read'
        : error.code === 'invalid_skill'
          ? 'This is not a valid skill'
          : error.code === 'payload_too_large'
            ? 'Too large'
            : error.code === 'conflict'
              ? 'A skill with this name already exists'
              : 'Upload failed'
      : 'Could not prepare the upload';
  return (
    <div className="alert alert-error upload-error" role="alert" id={id}>
      <p className="alert-title">{title}</p>
      <div className="alert-body">
        <p>{errorMessage(error)}</p>
        {entry && (
          <p>
            Problem entry: <code>{entry}</code>
          </p>
        )}
        {errors.length > 0 && (
          <ul>
            {errors.map((e, i) => (
              <li key={i}>{e}</li>
            ))}
          </ul>
        )}
        {conflictName && (
          <p>
            <Link to={`/skills/${encodeURIComponent(conflictName)}`}>Open {conflictName}</Link> to upload a
            new version instead.
          </p>
        )}
      </div>
    </div>
  );
}
