/** Levenshtein distance, for "did you mean" suggestions on short names. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** Up to `max` candidates closest to `wanted`: substring matches first, then by edit distance. */
export function closest(wanted: string, candidates: string[], max = 3): string[] {
  const w = wanted.toLowerCase();
  return candidates
    .map((c) => {
      const l = c.toLowerCase();
      const score = l.includes(w) || w.includes(l) ? 0 : distance(w, l) / Math.max(w.length, l.length, 1);
      return { c, score };
    })
    .filter((x) => x.score <= 0.6)
    .sort((a, b) => a.score - b.score || a.c.localeCompare(b.c))
    .slice(0, max)
    .map((x) => x.c);
}
