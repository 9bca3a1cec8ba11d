/**
 * File plans on the gateway host, race-free and never blocking.
 *
 * Checking a path's real location and then opening it by name lets a process
 * that can write inside a root swap a component for a symlink in between.
 * Deno offers no `openat()`, refuses `/proc/self/fd` to a sandboxed worker,
 * and drops `O_NOFOLLOW` when it checks a narrow `read` grant, so the walk
 * pins directories with the process working directory instead: `chdir()`
 * follows the path once, `getcwd()` then names the directory the process is
 * really in, and every later step is relative to that pinned directory. The
 * final name is `lstat`ed, refused unless it is a regular file, opened with
 * `O_NONBLOCK` (a FIFO swapped in cannot block the open), and the opened
 * descriptor must be the very inode `lstat` saw. A symlink as the final name
 * is followed by hand (at most {@linkcode MAX_HOPS}), each hop pinned again.
 *
 * Every step is synchronous, so two plans in this worker never interleave
 * while the working directory is theirs. The working directory is shared by
 * the whole process: the gateway resolves its own paths to absolute ones at
 * start, and subprocesses are started with an explicit `cwd`.
 *
 * @module
 */
import fs from "node:fs";
import type { LocalFsConfig } from "../local_kind.ts";
import type {
  DirEntry,
  ExecFailure,
  FsListPlan,
  FsListResult,
  FsReadPlan,
  FsReadResult,
} from "../plan.ts";
import { isUnderRoots } from "../plan.ts";

/** Symlinks followed at most in one path, as the kernel's own limit. */
export const MAX_HOPS = 40;

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY |
  fs.constants.O_NOFOLLOW;

/** A refusal with a stable code; the worker sends it back as the call's failure. */
export class FsFailure extends Error {
  /**
   * @param failure The code and message for the client.
   */
  constructor(readonly failure: ExecFailure) {
    super(failure.message);
  }
}

function refuse(code: ExecFailure["code"], message: string): never {
  throw new FsFailure({ code, message });
}

function rootsOf(plan: FsReadPlan | FsListPlan, config: LocalFsConfig): string[] {
  const roots = new Set<string>();
  for (const root of plan.roots) {
    // Only roots the worker was configured with, or directories under them, count: a plan can
    // narrow them, never widen them. A narrower root keeps its configured root's real prefix
    // (a symlink inside it is not followed here, which can only refuse more).
    for (const [configured, real] of Object.entries(config.realRoots)) {
      if (!isUnderRoots(root, [configured])) continue;
      roots.add(root).add(configured === "/" ? root : `${real}${root.slice(configured.length)}`);
    }
  }
  return [...roots];
}

function isProtected(real: string, id: string, config: LocalFsConfig): boolean {
  return config.protected.ids.includes(id) || isUnderRoots(real, config.protected.paths);
}

/**
 * Makes `dir` the working directory and checks where that really is.
 *
 * @returns The real path of the pinned directory.
 */
function pin(dir: string, roots: readonly string[], shown: string): string {
  Deno.chdir(dir);
  let real: string;
  try {
    real = Deno.cwd();
  } catch {
    // Deno refuses getcwd() when the directory lies outside every grant.
    refuse("forbidden", `Cannot open ${shown}: its real path lies outside the allowed roots`);
  }
  if (!isUnderRoots(real, roots)) {
    refuse("forbidden", `Cannot open ${shown}: its real path lies outside the allowed roots`);
  }
  return real;
}

function split(path: string): { dir: string; name: string } {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const slash = trimmed.lastIndexOf("/");
  return { dir: trimmed.slice(0, slash) || "/", name: trimmed.slice(slash + 1) };
}

function typeName(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isSymlink) return "a symlink";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  return "a special file";
}

/**
 * Opens the regular file `plan.path` names, following symlinks that stay inside the roots.
 *
 * @returns The open descriptor, the file's real path and its size; close the descriptor.
 */
function openRegular(
  plan: FsReadPlan,
  config: LocalFsConfig,
): { fd: number; real: string; size: number } {
  const roots = rootsOf(plan, config);
  const shown = JSON.stringify(plan.path);
  let path = plan.path;
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const { dir, name } = split(path);
    const realDir = pin(dir, roots, shown);
    if (name === "" || name === "." || name === "..") {
      refuse("forbidden", `Cannot read ${shown}: expected a regular file, found a directory`);
    }
    const seen = Deno.lstatSync(name);
    if (seen.isSymlink) {
      const link = Deno.readLinkSync(name);
      path = link.startsWith("/") ? link : `${realDir === "/" ? "" : realDir}/${link}`;
      continue;
    }
    if (!seen.isFile) {
      refuse("forbidden", `Cannot read ${shown}: expected a regular file, found ${typeName(seen)}`);
    }
    const fd = fs.openSync(name, OPEN_FLAGS);
    try {
      const opened = fs.fstatSync(fd);
      // The name may have been swapped since lstat: only the inode lstat saw, in the pinned
      // directory, is the file that was checked.
      if (opened.dev !== seen.dev || opened.ino !== seen.ino || !opened.isFile()) {
        refuse("forbidden", `Cannot read ${shown}: it changed while it was being opened`);
      }
      const real = `${realDir === "/" ? "" : realDir}/${name}`;
      if (isProtected(real, `${opened.dev}:${opened.ino}`, config)) {
        refuse("forbidden", `Cannot read ${shown}: it holds the gateway's own secrets`);
      }
      return { fd, real, size: opened.size };
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }
  refuse("forbidden", `Cannot read ${shown}: more than ${MAX_HOPS} symbolic links`);
}

/**
 * Reads part of a regular file under the plan's roots.
 *
 * @param plan The plan.
 * @param config Real roots and protected files.
 * @returns The content (UTF-8, or base64 when not text).
 * @throws {FsFailure} When the path leads outside the roots, is not a regular file or is protected.
 */
export function readFileRaceFree(plan: FsReadPlan, config: LocalFsConfig): FsReadResult {
  const { fd, real, size } = openRegular(plan, config);
  try {
    const length = Math.max(0, Math.min(plan.outputCapBytes, size - plan.offset));
    const buffer = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const n = fs.readSync(fd, buffer, filled, length - filled, plan.offset + filled);
      if (n === 0) break;
      filled += n;
    }
    const bytes = buffer.subarray(0, filled);
    let content: string;
    let encoding: "utf-8" | "base64" = "utf-8";
    try {
      content = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      let binary = "";
      for (const byte of bytes) binary += String.fromCharCode(byte);
      content = btoa(binary);
      encoding = "base64";
    }
    return {
      kind: "fs_read",
      path: real,
      size,
      content,
      encoding,
      truncated: plan.offset + filled < size,
    };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Lists a directory under the plan's roots. The directory is pinned as the
 * working directory (symlinks on its path followed by the kernel, then
 * checked), and entries are read relative to it.
 *
 * @param plan The plan.
 * @param config Real roots and protected files.
 * @returns The entries, sorted by name.
 * @throws {FsFailure} When the path leads outside the roots, is not a directory or is protected.
 */
export function listDirectoryRaceFree(plan: FsListPlan, config: LocalFsConfig): FsListResult {
  const shown = JSON.stringify(plan.path);
  const real = pin(plan.path, rootsOf(plan, config), shown);
  const self = Deno.lstatSync(".");
  if (isProtected(real, `${self.dev}:${self.ino}`, config)) {
    refuse("forbidden", `Cannot list ${shown}: it holds the gateway's own secrets`);
  }
  const entries: DirEntry[] = [];
  let truncated = false;
  for (const entry of Deno.readDirSync(".")) {
    if (entries.length >= plan.maxEntries) {
      truncated = true;
      break;
    }
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(entry.name);
    } catch {
      info = undefined;
    }
    entries.push({
      name: entry.name,
      type: entry.isFile
        ? "file"
        : entry.isDirectory
        ? "directory"
        : entry.isSymlink
        ? "symlink"
        : "other",
      size: info?.size ?? null,
      mtime: info?.mtime?.toISOString() ?? null,
      mode: info?.mode == null ? null : `0${(info.mode & 0o7777).toString(8).padStart(3, "0")}`,
    });
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { kind: "fs_list", path: real, entries, truncated };
}
