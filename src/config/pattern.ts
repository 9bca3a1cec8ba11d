/**
 * Policy `pattern` limits: regular expressions the operator writes and the
 * gate applies to arguments the model chose. They run on RE2 (the `re2js`
 * port), whose matching time is linear in the argument's length whatever the
 * pattern, so no argument can drive a pattern such as `(a+)+$` into
 * catastrophic backtracking on the gateway's main thread. RE2 has no
 * lookaround and no backreferences: a pattern using them is refused when the
 * policy loads, with RE2's own reason.
 *
 * @module
 */
import { RE2JS } from "re2js";

/** Longest pattern source, in characters. */
export const MAX_PATTERN_LENGTH = 512;

/** A compiled pattern: whether a whole string matches. */
export type PatternMatcher = (value: string) => boolean;

/**
 * Why a pattern cannot be used, or `undefined` when it compiles under RE2.
 *
 * @param source The pattern as written in the policy.
 * @returns A sentence, or `undefined`.
 */
export function patternProblem(source: string): string | undefined {
  if (source.length > MAX_PATTERN_LENGTH) {
    return `Invalid pattern: expected at most ${MAX_PATTERN_LENGTH} characters, found ${source.length}`;
  }
  try {
    RE2JS.compile(source);
    return undefined;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `Invalid pattern ${
      JSON.stringify(source)
    }: expected an RE2 regular expression (no lookaround or backreferences); ${reason}`;
  }
}

/**
 * Compiles a pattern that must match a whole value (it is anchored for you).
 * Matching takes time linear in the value's length.
 *
 * @param source A pattern for which {@linkcode patternProblem} found nothing.
 * @returns The matcher.
 * @throws {SyntaxError} When the pattern does not compile.
 */
export function compilePattern(source: string): PatternMatcher {
  const problem = patternProblem(source);
  if (problem) throw new SyntaxError(problem);
  const re = RE2JS.compile(`(?:${source})`);
  return (value) => re.matches(value);
}
