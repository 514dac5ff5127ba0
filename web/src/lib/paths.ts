/** Resolves a relative link inside a skill file against that file's folder ("../x", "./y", "/z" = skill root). */
export function resolveSkillPath(from: string, href: string): string {
  const target = decodeURIComponent(href.split(/[?#]/)[0] ?? '');
  const parts = target.startsWith('/') ? [] : from.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}
