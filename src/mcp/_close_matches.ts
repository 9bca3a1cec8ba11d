/**
 * "Did you mean" for target ids, tags and groups: the names closest to what
 * a caller typed, taken only from names that caller may see.
 *
 * @module
 */

/** Edit distance, giving up (returning `limit + 1`) once it must exceed `limit`. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
      best = Math.min(best, row[j]);
    }
    if (best > limit) return limit + 1;
    previous = row;
  }
  return previous[b.length];
}

/**
 * The candidates closest to a wanted name: those within a third of its
 * length in edits (at least 2), or that contain it or are contained in it,
 * nearest first.
 *
 * @param wanted What the caller typed (at most a few hundred characters).
 * @param candidates Names the caller may see.
 * @param max Most names returned.
 * @returns Up to `max` names.
 */
export function closeMatches(wanted: string, candidates: Iterable<string>, max = 3): string[] {
  const needle = wanted.toLowerCase();
  const limit = Math.max(2, Math.floor(needle.length / 3));
  const scored: [string, number][] = [];
  for (const name of new Set(candidates)) {
    const lower = name.toLowerCase();
    const d = lower.includes(needle) || needle.includes(lower)
      ? Math.min(1, distance(needle, lower, limit))
      : distance(needle, lower, limit);
    if (d <= limit && needle.length > 0) scored.push([name, d]);
  }
  scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return scored.slice(0, max).map(([name]) => name);
}

/** The parts of a target that names are suggested from. */
interface Named {
  readonly id: string;
  readonly tags: readonly string[];
  readonly groups: readonly string[];
}

const LIST_HINT = "call list_targets to see the targets you may use";

/**
 * The end of an `unknown_target` or `no_targets` message: close names the
 * caller may see, then how to list targets.
 *
 * @param wanted The id, or the selector terms, the caller gave.
 * @param visible Targets the caller may use (suggestions come only from these).
 * @returns A clause such as `(close: "db-01", "db-02"); call list_targets ...`.
 */
export function selectionHint(
  wanted: string | readonly string[],
  visible: readonly Named[],
): string {
  const terms = typeof wanted === "string" ? [wanted] : wanted;
  const close = new Set<string>();
  for (const raw of terms.flatMap((t) => t.split("&"))) {
    const term = raw.startsWith("!") ? raw.slice(1) : raw;
    const [prefix, name] = term.startsWith("tag:")
      ? ["tag:", visible.flatMap((t) => t.tags)]
      : term.startsWith("group:")
      ? ["group:", visible.flatMap((t) => t.groups)]
      : ["", visible.map((t) => t.id)];
    if (/[*?]/.test(term)) continue;
    for (const match of closeMatches(term.slice(prefix.length), name)) close.add(prefix + match);
  }
  const names = [...close].slice(0, 5).map((n) => JSON.stringify(n)).join(", ");
  return names ? ` (close: ${names}); ${LIST_HINT}` : `; ${LIST_HINT}`;
}
