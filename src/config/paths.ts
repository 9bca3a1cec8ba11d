/**
 * Path containment, the one check behind file roots in targets, policy
 * parameter limits and executors. Pure; imports nothing.
 *
 * @module
 */

/**
 * Whether an absolute, normalised path is one of the roots or lies under one,
 * comparing whole path segments (`/var/logs` is not under `/var/log`).
 *
 * @param path Absolute, normalised path (no `.`/`..` segments).
 * @param roots Absolute, normalised root directories.
 * @returns `true` when contained.
 *
 * @example
 * ```ts
 * isUnderRoots("/var/log/syslog", ["/var/log"]); // true
 * isUnderRoots("/var/logs", ["/var/log"]); // false
 * ```
 */
export function isUnderRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => {
    const base = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
    return base === "/" || path === base || path.startsWith(`${base}/`);
  });
}
