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
import { compileGlob, isGlob } from "./glob.ts";

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

/** Longest selector term, in characters. */
export const MAX_SELECTOR_TERM = 256;
/** Most terms in one selector. */
export const MAX_SELECTOR_TERMS = 256;

/**
 * One selector term, validated. Lengths are capped (a term at most
 * {@linkcode MAX_SELECTOR_TERM} characters, each id glob at most 63) so that
 * matching a selector against the registry is bounded (see `glob.ts`).
 */
export const selectorTermSchema = z.string().max(MAX_SELECTOR_TERM, {
  error: (issue) =>
    `Invalid target selector ${
      JSON.stringify(String(issue.input).slice(0, 40) + "…")
    }: expected at most ${MAX_SELECTOR_TERM} characters`,
}).refine(
  (term) => {
    const body = term.startsWith("!") ? term.slice(1) : term;
    return body.split("&").every((atom) => ATOM.test(atom));
  },
  {
    error: (issue) =>
      `Invalid target selector ${
        JSON.stringify(issue.input)
      }: expected an id, a glob such as "web-*", "tag:NAME" or "group:NAME" (each at most 63 characters: lowercase letters, digits, ".", "_", "-", and "*" or "?" in globs), joined by "&", optionally starting with "!"`,
  },
);

/** A selector: one term or a list of terms. */
export const selectorSchema = z.union([
  selectorTermSchema,
  z.array(selectorTermSchema).min(1).max(MAX_SELECTOR_TERMS, {
    error: `Invalid target selector: expected at most ${MAX_SELECTOR_TERMS} terms`,
  }),
])
  .transform((value) => (typeof value === "string" ? [value] : value));

/** Most characters, all terms together, in a selector a caller sends with a call. */
export const MAX_CALL_SELECTOR_CHARS = 1024;

/**
 * A selector sent with a call: as {@linkcode selectorSchema}, and at most
 * {@linkcode MAX_CALL_SELECTOR_CHARS} characters in all. Matching costs at
 * most (id length + 1) × (selector length) comparisons per target, so this
 * keeps a caller's selector cheap against a large registry.
 */
export const callSelectorSchema = selectorSchema.refine(
  (terms) => terms.reduce((sum, term) => sum + term.length, 0) <= MAX_CALL_SELECTOR_CHARS,
  {
    error:
      `Invalid target selector: expected at most ${MAX_CALL_SELECTOR_CHARS} characters in all terms together`,
  },
);

/** A compiled selector. */
export type TargetMatcher = (target: Selectable) => boolean;

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
  if (isGlob(atom)) {
    const matches = compileGlob(atom);
    return (t) => matches(t.id);
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
  // A repeated term adds nothing but cost.
  for (const term of new Set(terms)) {
    const negated = term.startsWith("!");
    const atoms = (negated ? term.slice(1) : term).split("&").map(compileAtom);
    const matcher: TargetMatcher = (t) => atoms.every((atom) => atom(t));
    (negated ? exclude : include).push(matcher);
  }
  return (t) => include.some((m) => m(t)) && !exclude.some((m) => m(t));
}
