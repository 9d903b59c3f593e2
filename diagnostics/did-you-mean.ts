/** Did-you-mean: the known names closest to what the user wrote, by edit distance. */

/**
 * Edit distance with adjacent transpositions counted as one edit (optimal string alignment), case-insensitive:
 * `stpes` is one edit from `steps`, as a person would count it.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  if (s === t) return 0;
  const rows = s.length + 1;
  const cols = t.length + 1;
  const d = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = s.charCodeAt(i - 1) === t.charCodeAt(j - 1) ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/**
 * Up to `max` candidates close to `input`: within about a third of the longer word's length, or sharing a
 * prefix of three characters, best first.
 */
export function suggest(input: string, candidates: readonly string[], max = 3): string[] {
  const scored: { name: string; d: number }[] = [];
  const low = input.toLowerCase();
  for (const name of candidates) {
    const d = editDistance(input, name);
    const threshold = Math.max(1, Math.floor(Math.max(input.length, name.length) / 3));
    const prefix = low.length >= 3 && name.toLowerCase().startsWith(low.slice(0, 3));
    if (d <= threshold || prefix || name.toLowerCase() === low) scored.push({ name, d: prefix ? Math.min(d, threshold) : d });
  }
  scored.sort((x, y) => x.d - y.d || (x.name < y.name ? -1 : 1));
  return scored.slice(0, max).map((s) => s.name);
}

/** " Did you mean `a` or `b`?" or "" when there is nothing close. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const found = suggest(input, candidates);
  if (found.length === 0) return "";
  const quoted = found.map((f) => `\`${f}\``);
  const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
  return ` Did you mean ${list}?`;
}
