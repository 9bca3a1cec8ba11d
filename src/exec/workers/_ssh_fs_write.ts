/**
 * File writes over SSH: one remote POSIX script, the content on its stdin,
 * atomic and never following a symlink.
 *
 * As for reads (`_ssh_fs.ts`), the script pins the directory with `cd -P`
 * and checks `pwd -P` against the write roots' real paths, then touches only
 * names relative to the pinned directory, so swapping a path component for a
 * symlink after the check changes nothing. Within it:
 *
 * - a symlink or special file at the name is refused (`[ -L ]`, `[ -f ]`),
 *   and the current content is read with `dd iflag=nofollow,nonblock`;
 * - the temporary file is created by `cat` under `set -C` (`O_EXCL`: a name
 *   planted in advance, symlink or not, fails the create) with the mode set
 *   by `umask` at creation (no later `chmod`, which would follow a symlink),
 *   so modes with execute, setuid, setgid or sticky bits are not offered;
 * - its size and SHA-256 are checked, it is synced, the old file is kept as a
 *   hard link (`ln -P`), and `mv -T` renames it over the name: rename replaces
 *   a symlink swapped in at the name rather than following it.
 *
 * GNU coreutils (`dd iflag=nofollow`, `mv -T`, `sync FILE`) are required; a
 * host without them gets `program_missing`, never a write that could race.
 *
 * @module
 */
import type { FsWritePlan, FsWriteResult } from "../plan.ts";
import { quoteArg } from "../quote.ts";
import { commandLine } from "../ssh_command_line.ts";
import { SshError } from "./_ssh_errors.ts";
import type { RawRun } from "./_ssh_exec.ts";
import { isUnder, underFunction } from "./_ssh_fs.ts";

const WRONG_TYPE = 65;
const NOT_FOUND = 66;
const CHOWN = 71;
const SHORT = 72;
const MISMATCH = 73;
const IS_LINK = 74;
const CHANGED = 75;
const OUTSIDE = 77;
const NO_SAFE_WRITE = 79;

const HEX64 = /^[0-9a-f]{64}$/;

function chownSpec(owner: string | undefined, group: string | undefined): string {
  if (owner !== undefined && group !== undefined) return `${owner}:${group}`;
  return owner ?? `:${group}`;
}

/**
 * A shell test that the file at `./$f` has the plan's mode, and its owner
 * and group where the plan sets them (names or ids: either matches). `stat`
 * without `-L` looks at the name itself; the name was checked to be a
 * regular file just before, and a race can only cause a rewrite.
 */
function sameMetadata(plan: FsWritePlan): string {
  const checks = [`[ "$1" = ${plan.mode.toString(8)} ]`];
  if (plan.owner !== undefined) {
    checks.push(`{ [ "$2" = ${quoteArg(plan.owner)} ] || [ "$4" = ${quoteArg(plan.owner)} ]; }`);
  }
  if (plan.group !== undefined) {
    checks.push(`{ [ "$3" = ${quoteArg(plan.group)} ] || [ "$5" = ${quoteArg(plan.group)} ]; }`);
  }
  // The script's own arguments are the roots: read the fields in a subshell.
  return `( s=$(stat -c '%a %U %G %u %g' -- "./$f" 2>/dev/null) && set -f && set -- $s && ` +
    `${checks.join(" && ")} )`;
}

/**
 * The remote script for a file write. Prints `REALPATH\0ROOT\0OLDSHA\0STATE\0BACKUP\0`.
 *
 * @param plan The plan (digests, mode and size validated; path and roots quoted).
 * @param bytes The content's length in bytes.
 * @param nonce A random hex string naming the temporary file.
 * @returns The script.
 * @throws {RangeError} When the plan's digests or mode are not what the operation validated.
 */
export function fsWriteScript(plan: FsWritePlan, bytes: number, nonce: string): string {
  if (!HEX64.test(plan.sha256) || !/^[0-9a-f]{8,64}$/.test(nonce)) {
    throw new RangeError("Invalid write plan: expected a SHA-256 digest and a hex nonce");
  }
  const expected = plan.expectedSha256;
  if (expected !== undefined && expected !== "absent" && !HEX64.test(expected)) {
    throw new RangeError("Invalid write plan: expected_sha256 must be a SHA-256 digest");
  }
  if ((plan.mode & ~0o666) !== 0) {
    throw new RangeError("Invalid write plan: mode must not have execute or special bits");
  }
  const umask = (~plan.mode & 0o777).toString(8).padStart(3, "0");
  const fail = (code: number) => `{ rm -f -- "./$t"; exit ${code}; }`;
  return [
    underFunction(plan.roots),
    `p=${quoteArg(plan.path)}`,
    `d=\${p%/*}; f=\${p##*/}; [ -n "$d" ] || d=/`,
    plan.makeDir
      // Make the last component in its pinned, checked parent; the cd -P below checks it again.
      ? `if ! cd -P -- "$d" 2>/dev/null; then q=\${d%/*}; [ -n "$q" ] || q=/; ` +
        `cd -P -- "$q" 2>/dev/null || exit ${NOT_FOUND}; v=$(pwd -P); ` +
        `under "$v" "$@" || exit ${OUTSIDE}; mkdir -m 0755 -- "./\${d##*/}" 2>/dev/null; ` +
        `cd -P -- "./\${d##*/}" 2>/dev/null || exit ${NOT_FOUND}; fi`
      : `cd -P -- "$d" 2>/dev/null || exit ${NOT_FOUND}`,
    `w=$(pwd -P) || exit ${NOT_FOUND}; w=\${w%/}`,
    `under "\${w:-/}" "$@" || { printf '%s\\0' "$w/$f"; exit ${OUTSIDE}; }`,
    `case $f in ''|.|..) exit ${WRONG_TYPE};; esac`,
    `dd if=/dev/null iflag=nofollow count=0 status=none 2>/dev/null && ` +
    `mv -T --version >/dev/null 2>&1 || exit ${NO_SAFE_WRITE}`,
    `[ -L "./$f" ] && exit ${IS_LINK}`,
    "o=absent",
    `if [ -e "./$f" ]; then`,
    `  [ -f "./$f" ] || exit ${WRONG_TYPE}`,
    `  o=$(dd if="./$f" iflag=nofollow,nonblock bs=65536 status=none 2>/dev/null | sha256sum)`,
    `  o=\${o%% *}`,
    `  [ -L "./$f" ] && exit ${IS_LINK}`,
    "fi",
    expected === undefined
      ? ":"
      : `[ "$o" = ${quoteArg(expected)} ] || { printf '%s\\0' "$o"; exit ${MISMATCH}; }`,
    // Same content and the mode (owner, group where given) asked for: nothing to do. Same content
    // with other metadata is written again below, so the file ends with what was asked.
    `if [ "$o" = ${plan.sha256} ] && ${sameMetadata(plan)}; then ` +
    `printf '%s\\0%s\\0%s\\0unchanged\\0\\0' "$w/$f" "$m" "$o"; exit 0; fi`,
    `t=".$f.tailops-${nonce}"`,
    `(umask ${umask}; set -C; cat > "./$t") 2>/dev/null || exit ${CHANGED}`,
    `n=$(wc -c < "./$t") && [ "$n" -eq ${bytes} ] || ${fail(SHORT)}`,
    `h=$(sha256sum < "./$t") && [ "\${h%% *}" = ${plan.sha256} ] || ${fail(SHORT)}`,
    ...(plan.owner !== undefined || plan.group !== undefined
      // -h: if the name were swapped for a symlink, only the link would change.
      // "OWNER:" would also set OWNER's login group: name the group only when given.
      ? [
        `chown -h -- ${quoteArg(chownSpec(plan.owner, plan.group))} "./$t" 2>/dev/null || ${
          fail(CHOWN)
        }`,
      ]
      : []),
    `sync -- "./$t" 2>/dev/null`,
    "b=",
    plan.backup
      ? `if [ "$o" != absent ]; then b=".$f.tailops-prev"; ` +
        `ln -P -f -- "./$f" "./$b" 2>/dev/null || ${fail(CHANGED)}; fi`
      : ":",
    `mv -f -T -- "./$t" "./$f" 2>/dev/null || ${fail(CHANGED)}`,
    "sync -- . 2>/dev/null",
    `printf '%s\\0%s\\0%s\\0changed\\0%s\\0' "$w/$f" "$m" "$o" "\${b:+$w/$b}"`,
  ].join("\n");
}

/**
 * Reads a file write's output.
 *
 * @param plan The plan.
 * @param bytes The content's length.
 * @param run What the script produced.
 * @returns The result.
 * @throws {SshError} For every failure the script reported.
 */
export function parseFsWrite(plan: FsWritePlan, bytes: number, run: RawRun): FsWriteResult {
  const shown = JSON.stringify(plan.path);
  const out = new TextDecoder().decode(run.stdout).split("\0");
  const refusal = (code: "forbidden" | "not_found" | "program_missing", why: string) =>
    new SshError(code, `Cannot write ${shown}: ${why}`);
  switch (run.exitCode) {
    case 0:
      break;
    case NOT_FOUND:
      throw refusal("not_found", "its directory does not exist");
    case OUTSIDE:
      throw refusal("forbidden", "its real path lies outside the write roots");
    case WRONG_TYPE:
      throw refusal("forbidden", "expected a regular file at the path, found another kind");
    case IS_LINK:
      throw refusal("forbidden", "it is a symbolic link (refused, not followed)");
    case MISMATCH:
      throw refusal(
        "forbidden",
        `expected current content ${plan.expectedSha256}, found ${out[0] || "unknown"}`,
      );
    case CHANGED:
      throw refusal("forbidden", "it changed while it was being written (refused, not followed)");
    case CHOWN:
      throw refusal("forbidden", "the owner or group could not be set (not permitted?)");
    case SHORT:
      throw refusal("forbidden", "the content arrived incomplete; nothing was replaced");
    case NO_SAFE_WRITE:
      throw refusal(
        "program_missing",
        "the host lacks GNU coreutils (dd iflag=nofollow, mv -T), so it cannot be written without a race",
      );
    default:
      throw new SshError(
        "bad_response",
        `Cannot write ${shown}: the remote command failed with exit ${run.exitCode}`,
      );
  }
  const [path, root, old, state, backup] = out;
  if (state !== "changed" && state !== "unchanged") {
    throw new SshError("bad_response", `Cannot write ${shown}: the output was malformed`);
  }
  if (!isUnder(path, [...plan.roots, root])) {
    throw refusal("forbidden", "its real path lies outside the write roots");
  }
  return {
    kind: "fs_write",
    path,
    bytes,
    sha256: plan.sha256,
    previousSha256: old === "absent" ? null : old,
    changed: state === "changed",
    backup: backup || null,
  };
}

/**
 * The command line that runs a file script (read or write): the script
 * itself, or, where the target's sudo policy names the operation, the script
 * as one argv element of `sudo -n -- /bin/sh -c SCRIPT` (quoted by the one
 * quoting function; stdin, the content, passes through sudo). The script is
 * the same race-free one either way: it pins the directory with `cd -P`,
 * creates with `set -C`, never follows a symlink, keeps the backup.
 *
 * @param script The script.
 * @param sudo Run it under sudo.
 * @returns The command line.
 */
export function fileScriptLine(script: string, sudo: boolean | undefined): string {
  return sudo ? commandLine(["/bin/sh", "-c", script], true) : script;
}

/**
 * Throws when sudo itself refused to run a file script (missing, or asking
 * for a password): the script's own exit codes mean nothing then.
 *
 * @param run What the command produced.
 * @param path The file, for the message.
 * @throws {SshError} `program_missing` or `forbidden`.
 */
export function checkSudoRun(run: RawRun, path: string): void {
  const stderr = new TextDecoder().decode(run.stderr);
  const shown = JSON.stringify(path);
  if (run.exitCode === 127 && /\bsudo: (command )?not found/.test(stderr)) {
    throw new SshError("program_missing", `Cannot reach ${shown} with sudo: sudo is not installed`);
  }
  if (run.exitCode === 1 && /^sudo: /m.test(stderr)) {
    throw new SshError(
      "forbidden",
      `Cannot reach ${shown} with sudo: expected passwordless sudo (NOPASSWD) for /bin/sh, ` +
        "found a refusal or a password prompt",
    );
  }
}
