/**
 * How deeply nested the JSON a target returns may be. Deeper values break
 * the tools the result passes through after the worker (structured cloning
 * between threads overflows the stack at a few thousand levels, the audit's
 * canonical JSON refuses more than 256), so they are refused early as
 * `bad_output`, per target, without recursion. Pure: workers import it
 * through plan.ts.
 *
 * @module
 */

/**
 * Deepest nesting of arrays and objects accepted in a target's output. Real
 * APIs stay far below (Docker's inspect output is about 6 levels deep); the
 * result envelope adds 4 more and the audit's canonical JSON allows 256.
 */
export const MAX_OUTPUT_DEPTH = 128;

const OPEN_BRACKET = 0x5b; // [
const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACKET = 0x5d; // ]
const CLOSE_BRACE = 0x7d; // }
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Whether JSON text nests arrays and objects deeper than `max` levels, read
 * in one pass without parsing (brackets inside strings do not count). Text
 * that is not JSON is judged the same way; parsing it is the caller's job.
 *
 * @param text JSON text.
 * @param max Deepest nesting allowed (default {@linkcode MAX_OUTPUT_DEPTH}).
 * @returns `true` when some value lies deeper than `max`.
 * @example
 * ```ts
 * jsonTextTooDeep("[[1]]", 1); // true
 * jsonTextTooDeep('["[[["]', 1); // false
 * ```
 */
export function jsonTextTooDeep(text: string, max: number = MAX_OUTPUT_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

/**
 * Whether a value nests arrays and objects deeper than `max` levels, walked
 * with an explicit stack (no recursion, so any depth is safe to ask about).
 *
 * @param value Any value.
 * @param max Deepest nesting allowed (default {@linkcode MAX_OUTPUT_DEPTH}).
 * @returns `true` when some value lies deeper than `max`.
 * @example
 * ```ts
 * valueTooDeep({ a: [1] }, 1); // true
 * valueTooDeep({ a: 1 }, 1); // false
 * ```
 */
export function valueTooDeep(value: unknown, max: number = MAX_OUTPUT_DEPTH): boolean {
  if (value === null || typeof value !== "object") return false;
  // Two parallel stacks of containers only: no allocation per scalar or per entry.
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return true;
    if (Array.isArray(node)) {
      for (const child of node) {
        if (child !== null && typeof child === "object") {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        const child = (node as Record<string, unknown>)[key];
        if (child !== null && typeof child === "object") {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}

/**
 * The sentence for output refused by depth.
 *
 * @param what Whose output ("The response of target \"api\"").
 * @returns A one-line message.
 */
export function tooDeepMessage(what: string): string {
  return `${what} is nested more than ${MAX_OUTPUT_DEPTH} levels deep, which the gateway does not accept`;
}
