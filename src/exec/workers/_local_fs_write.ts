/**
 * File writes on the gateway host, atomic and never following a symlink.
 *
 * Deno has no `openat()`, so the directory cannot be pinned the way the SSH
 * script pins it with `cd -P`. Instead every step names the directory by the
 * real path the kernel reported for it, and each object we create or replace
 * is checked again through its descriptor:
 *
 * 1. Open the directory (`O_DIRECTORY`) and ask the file helper
 *    (`_local_fs_agent.ts`: `readlink /proc/PID/fd/N`) where it really is; it
 *    must lie under a write root's real path and hold none of the gateway's
 *    own files.
 * 2. Refuse a symlink or special file at the name (`lstat`) without opening
 *    it; open the current file, if any, with `O_NONBLOCK` and check through
 *    `/proc/PID/fd` that what was opened is the name itself. (Inside a
 *    worker with narrowed `read`/`write` grants, Deno opens paths without
 *    honouring `O_NOFOLLOW`, measured on 2.9.6: the flag alone proves nothing.)
 * 3. Keep the directory open. The helper creates a temporary file, `O_EXCL`
 *    and mode 0600, through `/proc/PID/fd/DIRFD` (the magic link is the
 *    opened directory itself, wherever its path now leads). It is opened by
 *    name without `O_CREAT` (a swapped path can find nothing, never create
 *    anything), checked through `/proc/PID/fd`, given its mode bits by
 *    `fchmod`, written and synced.
 * 4. In one request the helper keeps the old file as `.NAME.tailops-prev`
 *    (`link(2)`), renames the temporary file over the name and `lstat`s the
 *    name, all through the pinned directory's link: rename replaces a
 *    symlink swapped in at the name rather than following it. On any failure
 *    it unlinks the temporary file the same way, so nothing of ours is left
 *    in a directory swapped in after the check.
 * 5. The name in the pinned directory must now hold our inode (`dev:ino` of
 *    that `lstat` against the temporary file's `fstat`).
 *
 * Someone who can write inside the directory can still replace the file
 * after we are done, as they could before: the guarantee is that the
 * gateway's own write lands in the checked directory and nowhere else.
 *
 * @module
 */
import fs from "node:fs";
import { createHash } from "node:crypto";
import type { LocalFsConfig } from "../local_kind.ts";
import type { FsWritePlan, FsWriteResult } from "../plan.ts";
import { agentOf, FsFailure, isProtectedPlace, realPathOf, realRootsOf } from "./_local_fs.ts";
import { isUnderRoots } from "../plan.ts";

const { O_RDONLY, O_WRONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = fs.constants;

/** Largest current file read for the comparison (bigger ones are simply replaced). */
const MAX_COMPARE_BYTES = 64 * 1024 * 1024;

function refuse(code: "forbidden" | "not_found" | "bad_response", message: string): never {
  throw new FsFailure({ code, message });
}

function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The current file's digest and metadata, read without following a symlink. */
interface Current {
  readonly sha256: string;
  readonly ino: number;
  /** Permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** The current file's digest, read without following a symlink; `null` when absent. */
async function currentDigest(
  path: string,
  shown: string,
  config: LocalFsConfig,
  timeoutMs: number,
): Promise<Current | null> {
  let seen: fs.Stats;
  try {
    seen = fs.lstatSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw error;
  }
  if (seen.isSymbolicLink()) {
    refuse("forbidden", `Cannot write ${shown}: it is a symbolic link (refused, not followed)`);
  }
  if (!seen.isFile()) {
    refuse("forbidden", `Cannot write ${shown}: expected a regular file at the path`);
  }
  const fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile() || await realPathOf(fd, config, timeoutMs) !== path) {
      refuse(
        "forbidden",
        `Cannot write ${shown}: it changed while it was being opened (refused, not followed)`,
      );
    }
    const meta = { ino: stats.ino, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
    if (stats.size > MAX_COMPARE_BYTES) return { sha256: "", ...meta };
    const buffer = new Uint8Array(stats.size);
    let filled = 0;
    while (filled < buffer.length) {
      const n = fs.readSync(fd, buffer, filled, buffer.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return { sha256: sha256Of(buffer.subarray(0, filled)), ...meta };
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether a file already has the plan's mode, and its owner and group where the plan sets them. */
function hasMetadata(current: Current, plan: FsWritePlan): boolean {
  return current.mode === plan.mode &&
    (plan.owner === undefined || current.uid === Number(plan.owner)) &&
    (plan.group === undefined || current.gid === Number(plan.group));
}

/**
 * Writes a file under the plan's write roots (see the module doc for how).
 *
 * @param plan The plan.
 * @param config Real roots, protected files and the file helper.
 * @returns What was written.
 * @throws {FsFailure} When the directory leads outside the roots, the name is a symlink or
 *   special file, the current content is not the expected one, or something changed meanwhile.
 */
export async function writeFileRaceFree(
  plan: FsWritePlan,
  config: LocalFsConfig,
): Promise<FsWriteResult> {
  const shown = JSON.stringify(plan.path);
  const cut = plan.path.lastIndexOf("/");
  const name = plan.path.slice(cut + 1);
  const dirPath = plan.path.slice(0, cut) || "/";
  let dirFd: number;
  // A directory made here is checked like any other once opened, below.
  if (plan.makeDir && !fs.existsSync(dirPath)) await makeDirPinned(plan, dirPath, config);
  try {
    dirFd = fs.openSync(dirPath, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") {
      refuse("not_found", `Cannot write ${shown}: its directory does not exist`);
    }
    throw error;
  }
  try {
    const dir = await realPathOf(dirFd, config, plan.timeoutMs);
    const stats = fs.fstatSync(dirFd);
    if (!isUnderRoots(dir, realRootsOf(plan.roots, config))) {
      refuse("forbidden", `Cannot write ${shown}: its real path lies outside the write roots`);
    }
    if (isProtectedPlace(dir, `${stats.dev}:${stats.ino}`, config)) {
      refuse("forbidden", `Cannot write ${shown}: it holds the gateway's own secrets`);
    }
    return await writeInPinnedDir(plan, config, { dirFd, dir, name });
  } finally {
    fs.closeSync(dirFd);
  }
}

/**
 * Makes the file's missing directory (its last component only) inside its
 * parent, opened and checked like a write's directory: `mkdir` runs on
 * `/proc/PID/fd/PARENTFD/NAME`, so a parent swapped for a symlink after the
 * check gets nothing, and a parent outside the write roots is refused first.
 */
async function makeDirPinned(
  plan: FsWritePlan,
  dirPath: string,
  config: LocalFsConfig,
): Promise<void> {
  const shown = JSON.stringify(plan.path);
  const cut = dirPath.lastIndexOf("/");
  const name = dirPath.slice(cut + 1);
  let parentFd: number;
  try {
    parentFd = fs.openSync(dirPath.slice(0, cut) || "/", O_RDONLY | O_DIRECTORY | O_NONBLOCK);
  } catch {
    refuse("not_found", `Cannot write ${shown}: its parent directory does not exist`);
  }
  try {
    const parent = await realPathOf(parentFd, config, plan.timeoutMs);
    if (!isUnderRoots(parent, realRootsOf(plan.roots, config))) {
      refuse("forbidden", `Cannot write ${shown}: its real path lies outside the write roots`);
    }
    // A directory made meanwhile by someone else is fine (it is checked when opened).
    await agentOf(config).ask(["mkdir", String(parentFd), name, "0755"], {
      timeoutMs: plan.timeoutMs,
      failure: `Cannot make the directory of ${shown}`,
    });
  } finally {
    fs.closeSync(parentFd);
  }
}

/**
 * Steps 2 to 5, with the checked directory held open on `dirFd`. Every name
 * this creates, links, renames or removes is reached by a helper through
 * `/proc/PID/fd/DIRFD/NAME` (the magic link is the opened directory itself,
 * wherever its path now leads), so a directory swapped for a symlink after
 * the check can get nothing of ours, not even an empty temporary file.
 */
async function writeInPinnedDir(
  plan: FsWritePlan,
  config: LocalFsConfig,
  place: { dirFd: number; dir: string; name: string },
): Promise<FsWriteResult> {
  const { dir, name } = place;
  const shown = JSON.stringify(plan.path);
  const inDir = (file: string) => `${dir === "/" ? "" : dir}/${file}`;
  // Names inside the pinned directory: the helper reaches them as /proc/PID/fd/DIRFD/NAME.
  const inPinned = (op: string, ...names: string[]) =>
    agentOf(config).ask([op, String(place.dirFd), ...names], {
      timeoutMs: plan.timeoutMs,
      failure: `Cannot write ${shown}`,
    });
  const target = inDir(name);
  if (isProtectedPlace(target, "", config)) {
    refuse("forbidden", `Cannot write ${shown}: it holds the gateway's own secrets`);
  }
  const current = await currentDigest(target, shown, config, plan.timeoutMs);
  if (plan.expectedSha256 !== undefined) {
    const found = current?.sha256 ?? "absent";
    if (found !== plan.expectedSha256) {
      refuse(
        "forbidden",
        `Cannot write ${shown}: expected current content ${plan.expectedSha256}, found ${found}`,
      );
    }
  }
  const previousSha256 = current?.sha256 || null;
  // Same content and the mode, owner and group asked for: nothing to do. Same content with other
  // metadata is written again (the race-free way), so the file ends with what was asked.
  if (previousSha256 === plan.sha256 && current && hasMetadata(current, plan)) {
    return {
      kind: "fs_write",
      path: target,
      bytes: decodeBase64(plan.content).length,
      sha256: plan.sha256,
      previousSha256,
      changed: false,
      backup: null,
    };
  }
  const content = decodeBase64(plan.content);
  if (sha256Of(content) !== plan.sha256) {
    refuse("bad_response", `Cannot write ${shown}: the content does not match its digest`);
  }
  // The helper creates it (O_EXCL, mode 0600) in the pinned directory; we only open what is there.
  const made = await inPinned("mktemp", `.${name}.tailops-`);
  const tempName = new TextDecoder().decode(made);
  if (!tempName.startsWith(`.${name}.tailops-`)) {
    refuse("bad_response", `Cannot write ${shown}: the file helper made an unexpected name`);
  }
  const temp = inDir(tempName);
  let renamed = false;
  let fd: number | undefined;
  try {
    try {
      // No O_CREAT: opening through a swapped path can find nothing, never make something.
      fd = fs.openSync(temp, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    } catch {
      refuse("forbidden", `Cannot write ${shown}: its directory changed while it was written`);
    }
    if (await realPathOf(fd, config, plan.timeoutMs) !== temp || !fs.fstatSync(fd).isFile()) {
      refuse("forbidden", `Cannot write ${shown}: its directory changed while it was written`);
    }
    let written = 0;
    while (written < content.length) {
      written += fs.writeSync(fd, content, written, content.length - written);
    }
    fs.fchmodSync(fd, plan.mode);
    if (plan.owner !== undefined || plan.group !== undefined) {
      // Numeric ids only here (the worker cannot read /etc/passwd); -1 keeps one as it is.
      fs.fchownSync(fd, Number(plan.owner ?? -1), Number(plan.group ?? -1));
    }
    fs.fsyncSync(fd);
    const ours = fs.fstatSync(fd);
    const backup = plan.backup && current ? `.${name}.tailops-prev` : "";
    // One request: link(2) keeps the old file as the backup (never following a symlink,
    // replacing an old backup), rename(2) puts ours over the name (replacing a symlink swapped
    // in there rather than following it), then lstat says what the name now holds — all
    // through the pinned directory's link.
    const placed = await inPinned("replace", tempName, name, backup);
    renamed = true;
    if (new TextDecoder().decode(placed) !== `${ours.dev}:${ours.ino}`) {
      refuse("forbidden", `Cannot write ${shown}: it changed while it was being replaced`);
    }
    return {
      kind: "fs_write",
      path: target,
      bytes: content.length,
      sha256: plan.sha256,
      previousSha256,
      changed: true,
      backup: backup ? inDir(backup) : null,
    };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    if (!renamed) {
      // Removed where it was made, whatever the directory's path leads to now.
      await inPinned("unlink", tempName).catch(() => {});
    }
  }
}
