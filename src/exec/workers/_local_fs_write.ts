/**
 * File writes on the gateway host, atomic and never following a symlink.
 *
 * Deno has no `openat()`, so the directory cannot be pinned the way the SSH
 * script pins it with `cd -P`. Instead every step names the directory by the
 * real path the kernel reported for it, and each object we create or replace
 * is checked again through its descriptor:
 *
 * 1. Open the directory (`O_DIRECTORY`) and ask `readlink /proc/PID/fd/N`
 *    where it really is; it must lie under a write root's real path and hold
 *    none of the gateway's own files.
 * 2. Refuse a symlink or special file at the name (`lstat`) without opening
 *    it; open the current file, if any, with `O_NONBLOCK` and check through
 *    `/proc/PID/fd` that what was opened is the name itself. (Inside a
 *    worker with narrowed `read`/`write` grants, Deno opens paths without
 *    honouring `O_NOFOLLOW`, measured on 2.9.6: the flag alone proves nothing.)
 * 3. Create a temporary file beside it, under a random name, with
 *    `O_CREAT | O_EXCL` (a name planted in advance fails the create), check
 *    through `/proc/PID/fd` that it was created in that directory under that
 *    name, set the mode bits by `fchmod` on the descriptor, write, `fsync`.
 * 4. Keep the old file as a hard link `.NAME.tailops-prev` (`link()` never
 *    follows a symlink), then `rename()` the temporary file over the name:
 *    rename replaces a symlink swapped in at the name rather than following
 *    it, and fails if the temporary file is no longer where we made it.
 * 5. Open the name again and check it is our inode, at that path.
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
import { FsFailure, isProtectedPlace, realPathOf, realRootsOf } from "./_local_fs.ts";
import { isUnderRoots } from "../plan.ts";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } =
  fs.constants;

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

/** The current file's digest, read without following a symlink; `null` when absent. */
async function currentDigest(
  path: string,
  shown: string,
  config: LocalFsConfig,
  timeoutMs: number,
): Promise<{ sha256: string; ino: number } | null> {
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
    if (stats.size > MAX_COMPARE_BYTES) return { sha256: "", ino: stats.ino };
    const buffer = new Uint8Array(stats.size);
    let filled = 0;
    while (filled < buffer.length) {
      const n = fs.readSync(fd, buffer, filled, buffer.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return { sha256: sha256Of(buffer.subarray(0, filled)), ino: stats.ino };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes a file under the plan's write roots (see the module doc for how).
 *
 * @param plan The plan.
 * @param config Real roots, protected files and the `readlink` helper.
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
  try {
    // A directory made here is checked like any other once opened, below.
    if (plan.makeDir && !fs.existsSync(dirPath)) fs.mkdirSync(dirPath, { mode: 0o755 });
    dirFd = fs.openSync(dirPath, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") {
      refuse("not_found", `Cannot write ${shown}: its directory does not exist`);
    }
    throw error;
  }
  let dir: string;
  try {
    dir = await realPathOf(dirFd, config, plan.timeoutMs);
    const stats = fs.fstatSync(dirFd);
    if (!isUnderRoots(dir, realRootsOf(plan.roots, config))) {
      refuse("forbidden", `Cannot write ${shown}: its real path lies outside the write roots`);
    }
    if (isProtectedPlace(dir, `${stats.dev}:${stats.ino}`, config)) {
      refuse("forbidden", `Cannot write ${shown}: it holds the gateway's own secrets`);
    }
  } finally {
    fs.closeSync(dirFd);
  }
  const target = `${dir === "/" ? "" : dir}/${name}`;
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
  if (previousSha256 === plan.sha256) {
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
  const temp = `${dir === "/" ? "" : dir}/.${name}.tailops-${crypto.randomUUID()}`;
  const fd = fs.openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0o600);
  let renamed = false;
  try {
    if (await realPathOf(fd, config, plan.timeoutMs) !== temp) {
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
    const tempIno = fs.fstatSync(fd).ino;
    let backup: string | null = null;
    if (plan.backup && current) {
      backup = `${dir === "/" ? "" : dir}/.${name}.tailops-prev`;
      try {
        fs.unlinkSync(backup);
      } catch (error) {
        if ((error as { code?: string }).code !== "ENOENT") throw error;
      }
      fs.linkSync(target, backup);
    }
    fs.renameSync(temp, target);
    renamed = true;
    const check = await currentDigest(target, shown, config, plan.timeoutMs);
    if (check?.ino !== tempIno) {
      refuse("forbidden", `Cannot write ${shown}: it changed while it was being replaced`);
    }
    return {
      kind: "fs_write",
      path: target,
      bytes: content.length,
      sha256: plan.sha256,
      previousSha256,
      changed: true,
      backup,
    };
  } finally {
    fs.closeSync(fd);
    if (!renamed) {
      try {
        fs.unlinkSync(temp);
      } catch {
        // Gone already, or never ours.
      }
    }
  }
}
