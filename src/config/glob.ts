/**
 * The one glob matcher: `*` matches any run of characters, `?` exactly one,
 * every other character itself. Used wherever the gateway matches a glob
 * against data it does not control (target selectors, operation names in
 * policy rules, identity bindings, known_hosts patterns, HTTP path globs).
 *
 * No regular expression is built: a glob is split at its stars into pieces,
 * the first piece must match at the start, the last at the end, and each
 * piece between is matched at its leftmost position after the previous one.
 * Leftmost is always safe for a piece between two stars, so nothing is ever
 * retried. Each piece is tried at each text position at most once, so a
 * match costs at most `(text length + 1) × (glob length)` character
 * comparisons: O(n·m) in the worst case, O(n + m) for globs whose pieces
 * have no repeated prefix, and never exponential however many stars a glob
 * has. The schemas that admit globs cap both lengths, so a match is bounded.
 *
 * @example
 * ```ts
 * compileGlob("web-*")("web-1"); // true
 * compileGlob("db-??", { caseInsensitive: true })("DB-01"); // true
 * ```
 *
 * @module
 */

/** How a glob compares characters. */
export interface GlobOptions {
  /** Compare without regard to ASCII and Unicode case (known_hosts, e-mail addresses). */
  readonly caseInsensitive?: boolean;
  /** When given, counts character comparisons here (tests assert the bound with it). */
  readonly steps?: { count: number };
}

/** A compiled glob: whether a text matches it as a whole. */
export type GlobMatcher = (text: string) => boolean;

/** Whether a glob has wildcards at all (`*` or `?`). */
export function isGlob(glob: string): boolean {
  return glob.includes("*") || glob.includes("?");
}

/**
 * Compiles a glob into a matcher that runs in time bounded by
 * `(text length + 1) × glob length` (see the module documentation).
 *
 * @param glob `*` any run, `?` one character, anything else literal.
 * @param options Case folding and step counting.
 * @returns A function telling whether a whole text matches.
 */
export function compileGlob(glob: string, options: GlobOptions = {}): GlobMatcher {
  const fold = options.caseInsensitive === true;
  const steps = options.steps;
  const source = fold ? glob.toLowerCase() : glob;
  // Consecutive stars mean one star: collapsing them keeps the pieces few.
  const pieces = source.split(/\*+/);
  const hasStar = pieces.length > 1;
  const first = pieces[0];
  const last = pieces[pieces.length - 1];
  const middle = pieces.slice(1, -1).filter((p) => p !== "");
  const minLength = pieces.reduce((sum, p) => sum + p.length, 0);

  // Whether `piece` matches `text` at `at` (`?` matches any one character).
  const pieceAt = (piece: string, text: string, at: number): boolean => {
    for (let i = 0; i < piece.length; i++) {
      if (steps) steps.count++;
      const p = piece.charCodeAt(i);
      if (p !== 63 /* ? */ && p !== text.charCodeAt(at + i)) return false;
    }
    return true;
  };

  return function matchGlob(input: string): boolean {
    const text = fold ? input.toLowerCase() : input;
    if (!hasStar) return text.length === first.length && pieceAt(first, text, 0);
    if (text.length < minLength) return false;
    if (!pieceAt(first, text, 0)) return false;
    const end = text.length - last.length;
    if (!pieceAt(last, text, end)) return false;
    let at = first.length;
    for (const piece of middle) {
      let found = -1;
      for (let start = at; start + piece.length <= end; start++) {
        if (pieceAt(piece, text, start)) {
          found = start;
          break;
        }
      }
      if (found < 0) return false;
      at = found + piece.length;
    }
    return true;
  };
}

/**
 * Compiles an HTTP path glob: `*` matches within one segment, a `**` segment
 * matches zero or more whole segments (`/api/**` matches `/api`, `/api/` and
 * `/api/a/b`), every other character is literal. The same leftmost-piece
 * scheme as {@linkcode compileGlob}, one level up: the glob's segments are
 * split at its `**` segments, and each run of segments is placed at its
 * leftmost fit. Cost at most `(path length + segments) × glob length` comparisons.
 *
 * @param glob A glob starting with `/`.
 * @param options Step counting.
 * @returns A function telling whether a whole path (starting with `/`) matches.
 */
export function compilePathGlob(glob: string, options: GlobOptions = {}): GlobMatcher {
  const segments = glob.split("/").slice(1);
  // Runs of `**` mean the same as one.
  const collapsed = segments.filter((s, i) => !(s === "**" && segments[i - 1] === "**"));
  const groups: GlobMatcher[][] = [[]];
  for (const segment of collapsed) {
    if (segment === "**") groups.push([]);
    else groups[groups.length - 1].push(compileGlob(segment, { steps: options.steps }));
  }
  const hasStar = groups.length > 1;
  const first = groups[0];
  const last = groups[groups.length - 1];
  const middle = groups.slice(1, -1).filter((g) => g.length > 0);
  const minLength = groups.reduce((sum, g) => sum + g.length, 0);
  const groupAt = (group: GlobMatcher[], parts: string[], at: number) =>
    group.every((match, i) => match(parts[at + i]));

  return function matchPathGlob(path: string): boolean {
    if (!path.startsWith("/")) return false;
    const parts = path.split("/").slice(1);
    if (!hasStar) return parts.length === first.length && groupAt(first, parts, 0);
    if (parts.length < minLength) return false;
    if (!groupAt(first, parts, 0)) return false;
    const end = parts.length - last.length;
    if (!groupAt(last, parts, end)) return false;
    let at = first.length;
    for (const group of middle) {
      let found = -1;
      for (let start = at; start + group.length <= end; start++) {
        if (groupAt(group, parts, start)) {
          found = start;
          break;
        }
      }
      if (found < 0) return false;
      at = found + group.length;
    }
    return true;
  };
}

/**
 * Matches a text against a glob once; prefer {@linkcode compileGlob} for repeated use.
 *
 * @param glob The glob.
 * @param text The text.
 * @param options Case folding and step counting.
 * @returns `true` when the whole text matches.
 */
export function matchGlob(glob: string, text: string, options: GlobOptions = {}): boolean {
  return compileGlob(glob, options)(text);
}
