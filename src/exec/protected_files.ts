/**
 * The files the gateway's own secrets come from, described so the local
 * worker can refuse them whatever its roots: key files and other `file:`
 * secret references, and the state directory (audit log, signing keys, admin
 * token, approvals). Computed once at start, on the main thread, which can
 * read them; the worker compares real paths and `dev:ino` of what it opened,
 * so neither a symlink nor a hard link inside a root reaches them.
 *
 * @module
 */
import { findSecrets } from "../config/secret.ts";
import type { ProtectedFiles } from "./worker_kind.ts";

/** Entries walked at most below a protected directory (the state directory is small). */
const MAX_ENTRIES = 10_000;

/**
 * The paths of every `file:` secret reference in configuration values.
 *
 * @param values Parsed configuration (targets, policy).
 * @returns Absolute paths, without duplicates.
 */
export function secretFilePaths(...values: readonly unknown[]): string[] {
  const paths = values.flatMap((value) =>
    findSecrets(value)
      .map(({ secret }) => secret.source)
      .filter((source) => source.startsWith("file:"))
      .map((source) => source.slice("file:".length))
  );
  return [...new Set(paths)];
}

/**
 * Describes protected paths: each path as given and its real path, and the
 * `dev:ino` of each file and directory at or below it (a path that does not
 * exist yet is kept by name only). Needs `read` on the paths.
 *
 * @param paths Absolute paths of secret files and directories.
 * @returns What the local worker refuses.
 */
export function describeProtectedFiles(paths: readonly string[]): ProtectedFiles {
  const names = new Set<string>();
  const ids = new Set<string>();
  let budget = MAX_ENTRIES;
  const visit = (path: string, depth: number) => {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      return;
    }
    ids.add(`${info.dev}:${info.ino}`);
    if (!info.isDirectory || depth > 4) return;
    try {
      for (const entry of Deno.readDirSync(path)) {
        if (--budget < 0) return;
        if (!entry.isSymlink) visit(`${path}/${entry.name}`, depth + 1);
      }
    } catch {
      // Unreadable: its name still protects it.
    }
  };
  for (const path of paths) {
    names.add(path);
    try {
      names.add(Deno.realPathSync(path));
    } catch {
      // Not there yet: refused by name once it is.
    }
    visit(path, 0);
  }
  return { paths: [...names], ids: [...ids] };
}
