/**
 * Target selectors, shared by policy rules and multi-target calls.
 *
 * A selector is a list of terms; a target matches when it matches any term
 * that is not negated and no term that is. A term is one or more atoms joined
 * by `&` (all must match). An atom is `*`, an id, an id glob (`web-*`),
 * `tag:NAME` or `group:NAME`. A term starting with `!` excludes.
 *
 * @example
 * ```ts
 * compileSelector(["tag:web&group:prod", "db-*", "!db-legacy"]);
 * ```
 *
 * @module
 */
import { z } from "zod";

/** The fields of a target a selector can look at. */
export interface Selectable {
  /** Target id. */
  id: string;
  /** Target tags. */
  tags: readonly string[];
  /** Target groups. */
  groups: readonly string[];
}

const ATOM = /^(?:\*|(?:tag|group):[a-z0-9][a-z0-9._-]{0,62}|[a-z0-9*?][a-z0-9._*?-]{0,62})$/;

/** One selector term, validated. */
export const selectorTermSchema = z.string().max(256).refine(
  (term) => {
    const body = term.startsWith("!") ? term.slice(1) : term;
    return body.split("&").every((atom) => ATOM.test(atom));
  },
  {
    error: (issue) =>
      `Invalid target selector ${
        JSON.stringify(issue.input)
      }: expected an id, a glob such as "web-*", "tag:NAME" or "group:NAME", joined by "&", optionally starting with "!"`,
  },
);

/** A selector: one term or a list of terms. */
export const selectorSchema = z.union([
  selectorTermSchema,
  z.array(selectorTermSchema).min(1).max(256),
])
  .transform((value) => (typeof value === "string" ? [value] : value));

/** A compiled selector. */
export type TargetMatcher = (target: Selectable) => boolean;

/**
 * Turns an id glob into an anchored regular expression (`*` any run, `?` one character).
 *
 * @param glob A glob over target ids or operation names.
 * @returns The equivalent regular expression.
 */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\-]/g, "\\$&").replaceAll("*", ".*").replaceAll(
    "?",
    ".",
  );
  return new RegExp(`^${body}$`);
}

function compileAtom(atom: string): TargetMatcher {
  if (atom === "*") return () => true;
  if (atom.startsWith("tag:")) {
    const tag = atom.slice(4);
    return (t) => t.tags.includes(tag);
  }
  if (atom.startsWith("group:")) {
    const group = atom.slice(6);
    return (t) => t.groups.includes(group);
  }
  if (atom.includes("*") || atom.includes("?")) {
    const re = globToRegExp(atom);
    return (t) => re.test(t.id);
  }
  return (t) => t.id === atom;
}

/**
 * Compiles selector terms into a matcher.
 *
 * @param terms Validated selector terms (see {@linkcode selectorSchema}).
 * @returns A function telling whether a target is selected.
 */
export function compileSelector(terms: readonly string[]): TargetMatcher {
  const include: TargetMatcher[] = [];
  const exclude: TargetMatcher[] = [];
  for (const term of terms) {
    const negated = term.startsWith("!");
    const atoms = (negated ? term.slice(1) : term).split("&").map(compileAtom);
    const matcher: TargetMatcher = (t) => atoms.every((atom) => atom(t));
    (negated ? exclude : include).push(matcher);
  }
  return (t) => include.some((m) => m(t)) && !exclude.some((m) => m(t));
}
