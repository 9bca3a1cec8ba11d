/**
 * The local worker kind: runs allowlisted programs and reads allowed file
 * roots on the gateway host.
 *
 * @module
 */
import type { LocalTarget } from "../config/targets_schema.ts";
import {
  NO_PERMISSIONS,
  type ProtectedFiles,
  type WorkerContext,
  type WorkerKind,
} from "./worker_kind.ts";

/** The fixed PATH programs are resolved from; the caller's PATH is never used. */
export const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The environment every local subprocess gets (with `clearEnv: true`). */
export const SUBPROCESS_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: SAFE_PATH,
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8",
  SYSTEMD_PAGER: "",
  SYSTEMD_COLORS: "0",
  DEBIAN_FRONTEND: "noninteractive",
});

/**
 * The program behind every file operation on the gateway host: one long-lived
 * `perl` per local worker says where an opened descriptor really is, lists an
 * opened directory and makes, links, renames and removes names inside one
 * (see `workers/_local_fs_agent.ts`). read_file, list_directory and the writes
 * declare it, so the worker may run it.
 */
export const LOCAL_FILE_HELPER = "perl";

/** What the local worker's file code needs from its configuration. */
export interface LocalFsConfig {
  /** Each root as configured → its real path at start (itself when it did not exist then). */
  readonly realRoots: Readonly<Record<string, string>>;
  /** Refused whatever the roots. */
  readonly protected: ProtectedFiles;
  /**
   * Program name → absolute path (`null` when absent). The file code runs
   * {@linkcode LOCAL_FILE_HELPER}, which the file operations declare as their program.
   */
  readonly programs: Readonly<Record<string, string | null>>;
}

export type { ProtectedFiles };

/** The `configure` message body for the local worker. */
export interface LocalWorkerConfig extends LocalFsConfig {
  /** Environment for subprocesses. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Finds a program in {@linkcode SAFE_PATH}. Needs `read` on those directories.
 *
 * @param name Bare program name.
 * @returns Its absolute path, or `null` when absent.
 */
export function resolveProgram(name: string): string | null {
  // An absolute path (operator-defined operations may name one) is taken as written.
  const dirs = name.startsWith("/") ? [""] : SAFE_PATH.split(":");
  for (const dir of dirs) {
    const path = dir === "" ? name : `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // Not in this directory; keep looking.
    }
  }
  return null;
}

function resolveAll(context: WorkerContext): Record<string, string | null> {
  return Object.fromEntries(context.programs.map((name) => [name, resolveProgram(name)]));
}

/**
 * Each root → its real path. The worker compares real paths against these,
 * and Deno checks its `read` grant on the real path of the directory it
 * pins, so a root that is itself a symlink must be granted by both names.
 * Needs `read` on the roots.
 */
function realRoots(
  targets: readonly LocalTarget[],
  which: "roots" | "write_roots" | "both" = "both",
): Record<string, string> {
  const roots = [
    ...new Set(
      targets.flatMap((t) =>
        which === "both" ? [...t.files.roots, ...t.files.write_roots] : t.files[which]
      ),
    ),
  ];
  return Object.fromEntries(roots.map((root) => {
    try {
      return [root, Deno.realPathSync(root)];
    } catch {
      return [root, root];
    }
  }));
}

/** No protected files: for hosts started without a gateway (tests, tools). */
export const NO_PROTECTED_FILES: ProtectedFiles = Object.freeze({ paths: [], ids: [] });

/**
 * The local worker: `run` for the catalog's programs only, `read` for the file
 * roots and write roots, `write` for the write roots only.
 */
export const LOCAL_KIND: WorkerKind<LocalTarget> = {
  type: "local",
  module: new URL("./workers/local.ts", import.meta.url),
  permissions(targets, context) {
    const programs = Object.values(resolveAll(context)).filter((p): p is string => p !== null);
    const roots = [...new Set(Object.entries(realRoots(targets)).flat())];
    const writeRoots = [...new Set(Object.entries(realRoots(targets, "write_roots")).flat())];
    return {
      ...NO_PERMISSIONS,
      run: programs.length > 0 ? programs : false,
      read: roots.length > 0 ? roots : false,
      write: writeRoots.length > 0 ? writeRoots : false,
    };
  },
  config(targets, context): LocalWorkerConfig {
    return {
      programs: resolveAll(context),
      env: SUBPROCESS_ENV,
      realRoots: realRoots(targets),
      protected: context.protectedFiles ?? NO_PROTECTED_FILES,
    };
  },
};
