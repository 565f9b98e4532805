/**
 * Edit distance between two words, case-insensitive: insertions, deletions, substitutions and swaps
 * of two neighbours each cost 1 (`intreval` is one step from `interval`, `healthcheck` none from
 * `healthCheck`).
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  // Three rows of the classic table are enough: the swap looks two rows back.
  let older: number[] = [];
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d = Math.min(d, (older[j - 2] ?? 0) + 1);
      row.push(d);
    }
    older = prev;
    prev = row;
  }
  return prev[t.length] ?? 0;
}

/**
 * The known word a mistyped one most likely meant: the closest, when it is within a third of the
 * word's length (at least one edit); undefined when nothing is that close. Ties go to the earlier word.
 */
export function closestWord(word: string, known: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { word: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(word, candidate);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { word: candidate, distance };
  }
  return best?.word;
}
