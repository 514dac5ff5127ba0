import { useMemo, useState } from 'react';
import type { MouseEvent } from 'react';
import { endpoints } from '../api/endpoints';
import type { SkillFile } from '../api/types';
import { Button, ErrorText, FormError, Icon, Loading, Skeleton } from '../components/ui';
import { formatBytes } from '../lib/format';
import { useAsync } from '../lib/hooks';
import type { AsyncState } from '../lib/hooks';
import { renderMarkdown } from '../lib/markdown';
import { resolveSkillPath } from '../lib/paths';

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

export function FileViewer({
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
