/**
 * File plans on the gateway host, race-free and never blocking.
 *
 * Checking a path's real location and then opening it by name lets a process
 * that can write inside a root swap a component for a symlink in between.
 * Deno offers no `openat()`, makes every relative path absolute before it
 * opens it, and refuses `/proc/self/fd` to a sandboxed worker, so the check is
 * made on what was opened instead of on a name:
 *
 * 1. `stat` the path and refuse anything but a regular file (or a directory
 *    for listings) without opening it: FIFOs, sockets and devices are never
 *    opened in the ordinary case.
 * 2. Open it with `O_NONBLOCK | O_NOCTTY`: a FIFO swapped in after step 1
 *    cannot block the open (or a read).
 * 3. `fstat` the descriptor (regular file or directory, `dev:ino` against the
 *    protected files) and ask the file helper (`_local_fs_agent.ts`, a
 *    separate process, which Deno's sandbox does not stop) to read
 *    `/proc/PID/fd/N`: where the opened object really is. It must lie under
 *    a root's real path.
 * 4. Read through the descriptor (`pread`), or have the helper list
 *    `/proc/PID/fd/N/.` (the kernel resolves the magic link to the opened
 *    directory itself; each entry is `lstat`ed, never followed). The same
 *    request reads the link's target first (step 3 without a second round
 *    trip); the listing is dropped unread when that target is refused.
 *
 * @module
 */
import fs from "node:fs";
import { LOCAL_FILE_HELPER, type LocalFsConfig } from "../local_kind.ts";
import type { ExecFailure, FsListPlan, FsListResult, FsReadPlan, FsReadResult } from "../plan.ts";
import { isUnderRoots } from "../plan.ts";
import { parseEntryRecords } from "./_dir_entries.ts";
import { type FsAgent, fsAgentFor, FsFailure, leadingFields } from "./_local_fs_agent.ts";

export { FsFailure };

const { O_RDONLY, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = fs.constants;

function refuse(code: ExecFailure["code"], message: string): never {
  throw new FsFailure({ code, message });
}

/**
 * The real roots a plan may use: its own roots, where they lie under configured ones.
 *
 * @param planRoots The roots a plan carries.
 * @param config The worker's configured roots and their real paths.
 * @returns Each usable root, as written and under its configured root's real path.
 */
export function realRootsOf(planRoots: readonly string[], config: LocalFsConfig): string[] {
  const roots = new Set<string>();
  for (const root of planRoots) {
    // A plan can narrow the configured roots, never widen them. A narrower root keeps its
    // configured root's real prefix (a symlink below that is not followed here, which can
    // only refuse more).
    for (const [configured, real] of Object.entries(config.realRoots)) {
      if (!isUnderRoots(root, [configured])) continue;
      const rest = configured === "/" ? root : root.slice(configured.length);
      roots.add(root).add(real === "/" ? rest || "/" : `${real}${rest}`);
    }
  }
  return [...roots];
}

/**
 * Whether a real path, or the object with this `dev:ino`, is one of the gateway's own files.
 *
 * @param real A real path.
 * @param id `dev:ino` of the opened object, or `""`.
 * @param config The protected files.
 * @returns `true` when it must be refused.
 */
export function isProtectedPlace(real: string, id: string, config: LocalFsConfig): boolean {
  return config.protected.ids.includes(id) || isUnderRoots(real, config.protected.paths);
}

/** What kind of object a stat describes, for refusals. */
function kindOf(info: {
  isDirectory: boolean;
  isFifo: boolean | null;
  isSocket: boolean | null;
  isCharDevice: boolean | null;
  isBlockDevice: boolean | null;
}): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  return "a special file";
}

function kindOfStats(stats: fs.Stats): string {
  return kindOf({
    isDirectory: stats.isDirectory(),
    isFifo: stats.isFIFO(),
    isSocket: stats.isSocket(),
    isCharDevice: stats.isCharacterDevice(),
    isBlockDevice: stats.isBlockDevice(),
  });
}

/**
 * Where the object open on `fd` really is, from the kernel (`readlink /proc/PID/fd/N`, made by
 * the file helper).
 *
 * @param fd An open descriptor.
 * @param config The `perl` helper's path.
 * @param timeoutMs Bound on the helper's answer.
 * @returns The real path.
 * @throws {FsFailure} When the helper is missing or fails.
 */
export async function realPathOf(
  fd: number,
  config: LocalFsConfig,
  timeoutMs: number,
): Promise<string> {
  const answer = await agentOf(config).ask(["where", String(fd)], {
    timeoutMs,
    failure: "Cannot verify the opened path",
  });
  return new TextDecoder().decode(answer);
}

/**
 * The worker's file helper.
 *
 * @param config The resolved programs.
 * @returns The one agent for the configured `perl`.
 */
export function agentOf(config: LocalFsConfig): FsAgent {
  return fsAgentFor(config.programs[LOCAL_FILE_HELPER] ?? null);
}

function checkPlace(
  real: string,
  id: string,
  plan: FsReadPlan | FsListPlan,
  config: LocalFsConfig,
  what: string,
): void {
  const shown = JSON.stringify(plan.path);
  if (!isUnderRoots(real, realRootsOf(plan.roots, config))) {
    refuse("forbidden", `Cannot ${what} ${shown}: its real path lies outside the allowed roots`);
  }
  if (isProtectedPlace(real, id, config)) {
    refuse("forbidden", `Cannot ${what} ${shown}: it holds the gateway's own secrets`);
  }
}

const EXPECTED = {
  file: { verb: "read", noun: "a regular file", flags: 0, is: (s: fs.Stats) => s.isFile() },
  directory: {
    verb: "list",
    noun: "a directory",
    flags: O_DIRECTORY,
    is: (s: fs.Stats) => s.isDirectory(),
  },
} as const;

/**
 * Opens `path` as a regular file or a directory, never blocking: its type is
 * checked before the open (a FIFO is never opened) and again on the opened
 * descriptor (something swapped in between is refused, and closed).
 */
function openExpecting(
  path: string,
  expected: keyof typeof EXPECTED,
): { fd: number; opened: fs.Stats } {
  const { verb, noun, flags, is } = EXPECTED[expected];
  const shown = JSON.stringify(path);
  const seen = Deno.statSync(path);
  if (expected === "file" ? !seen.isFile : !seen.isDirectory) {
    refuse("forbidden", `Cannot ${verb} ${shown}: expected ${noun}, found ${kindOf(seen)}`);
  }
  const fd = fs.openSync(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | flags);
  try {
    const opened = fs.fstatSync(fd);
    if (!is(opened)) {
      refuse(
        "forbidden",
        `Cannot ${verb} ${shown}: expected ${noun}, found ${kindOfStats(opened)} ` +
          "(it changed while it was being opened)",
      );
    }
    return { fd, opened };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * Reads part of a regular file under the plan's roots.
 *
 * @param plan The plan.
 * @param config Real roots, protected files and helper programs.
 * @returns The content (UTF-8, or base64 when not text).
 * @throws {FsFailure} When the path leads outside the roots, is not a regular file or is protected.
 */
export async function readFileRaceFree(
  plan: FsReadPlan,
  config: LocalFsConfig,
): Promise<FsReadResult> {
  const { fd, opened } = openExpecting(plan.path, "file");
  try {
    const real = await realPathOf(fd, config, plan.timeoutMs);
    checkPlace(real, `${opened.dev}:${opened.ino}`, plan, config, "read");
    const size = opened.size;
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
      ...(plan.metadata
        ? {
          metadata: {
            mode: (opened.mode & 0o7777).toString(8).padStart(4, "0"),
            uid: opened.uid,
            gid: opened.gid,
          },
        }
        : {}),
    };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Lists a directory under the plan's roots, through the opened directory.
 *
 * @param plan The plan.
 * @param config Real roots, protected files and helper programs.
 * @returns The entries, sorted by name.
 * @throws {FsFailure} When the path leads outside the roots, is not a directory or is protected.
 */
export async function listDirectoryRaceFree(
  plan: FsListPlan,
  config: LocalFsConfig,
): Promise<FsListResult> {
  const { fd, opened } = openExpecting(plan.path, "directory");
  try {
    // One request both reads where the opened directory really is and lists
    // it through `/proc/PID/fd/N/.` (the opened directory itself, whatever
    // its path leads to now), each entry by `lstat`.
    const answer = await agentOf(config).ask(["list", String(fd)], {
      timeoutMs: plan.timeoutMs,
      failure: "Cannot list the opened directory",
    });
    const { fields: [real, cut], rest } = leadingFields(answer, 2);
    const truncated = cut === "1";
    if (!real.startsWith("/")) {
      refuse("forbidden", "Cannot verify the opened path: the helper did not say where it lies");
    }
    checkPlace(real, `${opened.dev}:${opened.ino}`, plan, config, "list");
    const records = new TextDecoder().decode(rest).split("\0");
    records.pop(); // after the last NUL: empty
    const entries = parseEntryRecords(records);
    return {
      kind: "fs_list",
      path: real,
      entries: entries.slice(0, plan.maxEntries),
      truncated: truncated || entries.length > plan.maxEntries,
    };
  } finally {
    fs.closeSync(fd);
  }
}
