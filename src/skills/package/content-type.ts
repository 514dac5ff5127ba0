import path from 'node:path';

/**
 * Content types for serving skill files from our own origin. Markup that a browser would execute (HTML, SVG,
 * XML) is served as plain text or as a download, never rendered: skill content is untrusted.
 */
const TEXT_TYPES: Record<string, string> = {
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.txt': 'text/plain',
  '.py': 'text/x-python',
  '.sh': 'text/x-shellscript',
  '.bash': 'text/x-shellscript',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.cjs': 'text/javascript',
  '.ts': 'text/x-typescript',
  '.json': 'application/json',
  '.yaml': 'text/yaml',
  '.yml': 'text/yaml',
  '.toml': 'text/plain',
  '.csv': 'text/csv',
  '.html': 'text/plain',
  '.htm': 'text/plain',
  '.xml': 'text/plain',
  '.svg': 'text/plain',
  '.css': 'text/plain',
};

const BINARY_TYPES: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function isText(data: Uint8Array): boolean {
  if (data.includes(0)) return false;
  try {
    utf8.decode(data);
    return true;
  } catch {
    return false;
  }
}

/** The content type from the file name; unknown extensions are sniffed as text or binary. */
export function contentTypeFor(filePath: string, data?: Uint8Array): string {
  const ext = path.extname(filePath).toLowerCase();
  const text = TEXT_TYPES[ext];
  if (text) return text.startsWith('text/') ? `${text}; charset=utf-8` : text;
  const binary = BINARY_TYPES[ext];
  if (binary) return binary;
  if (data && isText(data)) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

export const isTextType = (type: string) => type.startsWith('text/') || type === 'application/json';
