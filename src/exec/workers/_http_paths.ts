/**
 * Request paths for HTTP targets: which paths are safe to send, and glob
 * matching against a target's `paths` allowlist. Pure functions, shared by the
 * plan builder (so dry run shows a refusal) and the worker (which enforces it).
 *
 * @module
 */
import { compilePathGlob } from "../../config/glob.ts";

/** HTTP methods an HTTP target may allow. */
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

/** One of {@linkcode HTTP_METHODS}. */
export type HttpMethod = typeof HTTP_METHODS[number];

/** Longest request path, in characters. */
export const MAX_PATH_LENGTH = 2048;

/** Characters a path may hold: RFC 3986 `pchar` and `/`, without `;`, and `%` for escapes. */
const PATH_CHAR = /[A-Za-z0-9\-._~!$&'()*+,=:@/%]/;

/**
 * Characters that, decoded from an escape, change what the upstream sees as
 * the path's structure: separators, dot segments, path parameters, a second
 * level of escaping, query and fragment marks, and control characters.
 */
// deno-lint-ignore no-control-regex -- refusing control characters is the point
const STRUCTURAL = /[/\\.;%?#\x00-\x1f\x7f]/;

/** Why one raw character cannot appear in a path, in words. */
function rawCharProblem(char: string): string {
  const code = char.codePointAt(0)!;
  if (char === ";") return 'no ";" path parameters (servers such as Tomcat read "..;" as "..")';
  if (char === "\\") return 'no backslashes (some servers read them as "/")';
  if (code < 0x20 || code === 0x7f) return "no control characters";
  if (char === "?" || char === "#") return 'no query or fragment (give the query as "query")';
  return `only URL path characters, found ${JSON.stringify(char)}`;
}

/**
 * Decodes one segment's escapes strictly: every `%` must start two hex
 * digits, and escaped bytes must be well-formed UTF-8 (overlong forms such as
 * `%c0%ae` are refused by the decoder).
 */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Why a request path is refused, or `undefined` when it is safe. The path is
 * normalised before anything is matched: it must start with a single `/`,
 * hold only URL path characters (no `;` path parameters, backslashes,
 * controls, query or fragment), and no escape may decode to a separator
 * (`%2f`, `%5c`), a dot (`%2e`, so no dot segment in any encoding), `;`,
 * `%` (double encoding such as `%252e`), `?`, `#` or a control character;
 * escapes must be valid UTF-8. No segment may be empty (but the last), nor
 * consist of dots, whether written plainly or as a Unicode look-alike that
 * normalises to dots (`%ef%bc%8e` is a fullwidth full stop).
 *
 * @param path The path, relative to the target's base URL.
 * @returns A sentence saying what is wrong, or `undefined`.
 */
export function pathProblem(path: string): string | undefined {
  const shown = JSON.stringify(path.length > 80 ? `${path.slice(0, 80)}…` : path);
  const refuse = (expected: string) => `Invalid path ${shown}: expected ${expected}`;
  if (path.length > MAX_PATH_LENGTH) return refuse(`at most ${MAX_PATH_LENGTH} characters`);
  if (!path.startsWith("/") || path.startsWith("//")) {
    return refuse('a path starting with a single "/"');
  }
  for (const char of path) {
    if (!PATH_CHAR.test(char)) return refuse(rawCharProblem(char));
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return refuse('"%" only before two hex digits');
  const segments = path.split("/").slice(1);
  for (const [index, segment] of segments.entries()) {
    if (segment === "" && index < segments.length - 1) return refuse("no empty segments");
    const decoded = decodeSegment(segment);
    if (decoded === undefined) return refuse("escapes that decode to valid UTF-8");
    for (const [, hex] of segment.matchAll(/%([0-9A-Fa-f]{2})/g)) {
      if (STRUCTURAL.test(String.fromCharCode(parseInt(hex, 16)))) {
        return refuse(
          'no escaped "/", "\\", ".", ";", "%", "?", "#" or control characters (encoded separators, dot segments and double encoding are refused)',
        );
      }
    }
    // NFKC folds look-alikes (fullwidth dots and solidus, one-dot leaders) to ASCII.
    for (const char of decoded) {
      if (char.charCodeAt(0) >= 0x80 && STRUCTURAL.test(char.normalize("NFKC"))) {
        return refuse("no characters that normalise to a separator, dot or control character");
      }
    }
    if (/^[.\s]+$/.test(decoded)) return refuse('no "." or ".." segments');
  }
  return undefined;
}

/**
 * Whether a path matches at least one of a target's path globs.
 *
 * @param path A path that passed {@linkcode pathProblem}.
 * @param globs The target's `paths`.
 * @returns `true` when allowed.
 */
export function pathAllowed(path: string, globs: readonly string[]): boolean {
  return globs.some((glob) => compilePathGlob(glob)(path));
}

/**
 * Checks a method and path against a target's allowlists.
 *
 * @param request The method and path.
 * @param allow The target's `methods` and `paths`.
 * @returns A sentence saying why the request is refused, or `undefined` when allowed.
 */
export function requestProblem(
  request: { method: string; path: string },
  allow: { methods: readonly string[]; paths: readonly string[] },
): string | undefined {
  if (!allow.methods.includes(request.method)) {
    return `Method ${request.method} is not allowed on this target: expected one of ${
      allow.methods.join(", ")
    }`;
  }
  const problem = pathProblem(request.path);
  if (problem) return problem;
  if (!pathAllowed(request.path, allow.paths)) {
    return `Path ${
      JSON.stringify(request.path)
    } is not allowed on this target: expected a path matching ${
      allow.paths.map((p) => JSON.stringify(p)).join(", ")
    }`;
  }
  return undefined;
}
