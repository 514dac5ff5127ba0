import { InvalidInputError } from '../shared/errors.js';

const MAX_PATH_LENGTH = 1024;
const MAX_SEGMENT_LENGTH = 255;

/**
 * Validates a file path relative to the work dir and returns it normalised (`./a//b` → `a/b`).
 * Refused: empty, absolute, `~`, backslashes, control characters, `.`/`..` segments after normalising, too long.
 * Symlinks cannot be smuggled in: files are written from Buffers with O_NOFOLLOW|O_EXCL into a fresh dir.
 */
export function normalizeRelativePath(raw: string, what = 'path'): string {
  const fail = (problem: string) =>
    new InvalidInputError('invalid_path', `Invalid ${what} ${JSON.stringify(raw)}: ${problem}`, {
      path: raw,
      problem,
    });
  if (typeof raw !== 'string' || raw.length === 0) throw fail('empty');
  if (raw.length > MAX_PATH_LENGTH) throw fail('too long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw fail('control characters');
  if (raw.includes('\\')) throw fail('backslash');
  if (raw.startsWith('/')) throw fail('absolute path');
  if (raw.startsWith('~')) throw fail('home-relative path');
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0) throw fail('empty');
  for (const s of segments) {
    if (s === '..') throw fail("'..' segment");
    if (s.length > MAX_SEGMENT_LENGTH) throw fail('segment too long');
  }
  return segments.join('/');
}

/** True when `p` (already normalised) equals `dir` or lies below it. */
export function isInside(dir: string, p: string): boolean {
  const d = dir.endsWith('/') ? dir : dir + '/';
  return p === dir || p.startsWith(d);
}
