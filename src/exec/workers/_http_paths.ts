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

/** Characters a path may hold (RFC 3986 `pchar` and `/`), `%` only before two hex digits. */
const PATH_CHARS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

/** Percent-escapes that decode to `.`, `/`, `\` or NUL: they could smuggle a traversal past the globs. */
const RISKY_ESCAPES = /%(?:2e|2f|5c|00)/i;

/**
 * Why a request path is refused, or `undefined` when it is safe: it starts
 * with `/`, has no scheme or host, no `.`/`..`/empty segments, no query or
 * fragment, no control characters, and no escapes that decode to `.`, `/`,
 * `\` or NUL.
 *
 * @param path The path, relative to the target's base URL.
 * @returns A sentence saying what is wrong, or `undefined`.
 */
export function pathProblem(path: string): string | undefined {
  const shown = JSON.stringify(path.length > 80 ? `${path.slice(0, 80)}…` : path);
  if (!path.startsWith("/") || path.startsWith("//")) {
    return `Invalid path ${shown}: expected a path starting with a single "/"`;
  }
  if (path.length > 2048) return `Invalid path ${shown}: expected at most 2048 characters`;
  if (!PATH_CHARS.test(path)) {
    return `Invalid path ${shown}: expected only URL path characters (no spaces, controls, "?", "#" or "\\")`;
  }
  if (RISKY_ESCAPES.test(path)) {
    return `Invalid path ${shown}: expected no escaped ".", "/", "\\" or NUL`;
  }
  const segments = path.split("/").slice(1);
  if (segments.some((s, i) => s === "." || s === ".." || (s === "" && i < segments.length - 1))) {
    return `Invalid path ${shown}: expected no ".", ".." or empty segments`;
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
