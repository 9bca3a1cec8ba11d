/**
 * File plans over SSH, one exec each, race-free and never blocking.
 *
 * A remote process that can write inside a root may swap a path component
 * for a symlink between a check and an open by name, so the script never
 * opens a checked path by name. It pins the directory with `cd -P` (the
 * shell's working directory is the directory itself, whatever its path turns
 * into), checks `pwd -P` against the roots' real paths, and then touches only
 * the final name relative to it: `[ -L ]`/`[ -f ]` refuse symlinks-as-read
 * and special files without opening them (a final symlink is followed by
 * hand, each hop pinned again, at most 40), and the open itself cannot follow
 * a symlink swapped in or block on a FIFO swapped in:
 *
 * - GNU coreutils: `dd iflag=nofollow,nonblock` opens the name relative to the
 *   pinned directory. It is tried first, without a probe: a `dd` that rejects
 *   those flags (busybox) or is missing copies nothing, and the next branch
 *   decides. Nothing is remembered between calls, so a host whose tools
 *   change is read by what it has at that moment.
 * - Otherwise (busybox): a child shell under `timeout -s KILL` opens the name,
 *   and `/proc/$$/fd/3` must name the checked path and be a regular file
 *   before a byte is read; an open that a FIFO swapped in makes wait is killed
 *   at the plan's timeout, never left behind. Without `timeout` the read is
 *   refused.
 *
 * Listing pins the directory the same way and lists `.`: GNU `find -printf`
 * (which walks with `openat` and never follows symlinks), else busybox `stat -c`
 * per entry, both printing `TYPE\tSIZE\tMTIME\tMODE\nNAME\0` per entry. We check
 * the real path and root the script prints again on our side.
 *
 * @module
 */
import type { FileMetadata, FsListPlan, FsListResult, FsReadPlan, FsReadResult } from "../plan.ts";
import { quoteArg } from "../quote.ts";
import { FIND_ENTRY_FORMAT, parseEntryRecords } from "./_dir_entries.ts";
import { SshError } from "./_ssh_errors.ts";
import type { RawRun } from "./_ssh_exec.ts";

const NOT_FOUND = 66;
const OUTSIDE = 77;
const WRONG_TYPE = 65;
const UNREADABLE = 78;
const CHANGED = 75;
const LOOP = 76;
const NO_SAFE_READ = 79;
/** `timeout -s KILL` killed the open: a FIFO was swapped in after the check. */
const KILLED = 137;

/** Symlinks followed at most in one path, as the kernel's own limit. */
const MAX_HOPS = 40;

/**
 * Resolves the roots' real paths once, in the script's own shell (no
 * subshell per root: `cd -P` sets `$PWD` to the physical path, as `pwd -P`
 * prints it), into the positional parameters; and a shell function:
 * `under DIR "$@"` succeeds when DIR lies under one of them, setting `m`.
 * The script's working directory is left in the last root: later steps
 * `cd` by absolute path.
 *
 * @param roots The roots (quoted here).
 * @returns The script's first lines.
 */
export function underFunction(roots: readonly string[]): string {
  const list = roots.length > 0 ? roots.map(quoteArg).join(" ") : "''";
  return `set --; for r in ${list}; do [ -n "$r" ] && cd -P -- "$r" 2>/dev/null && set -- "$@" "$PWD"; done\n` +
    `under() { u=$1; shift; for r in "$@"; do [ "$r" = / ] && r=; ` +
    `case $u in "$r"|"$r"/*) m=\${r:-/}; return 0;; esac; done; return 1; }`;
}

/**
 * The remote script for a file read: prints `REALPATH\0ROOT\0`, then up to
 * `outputCapBytes` bytes from `offset`, then `\0SIZE\0`.
 *
 * On GNU hosts the common read forks one process: `dd` is tried at once
 * (no probe), and the size comes from what dd says it copied when that
 * settles it (fewer bytes than asked for, so the file ended there); `stat`
 * runs only when the read was cut at the cap or read nothing past an
 * offset. Whatever dd reports is only used to skip `stat`, never to decide
 * what may be read. A `dd` that rejects `nofollow` (busybox, toybox) or is
 * missing has copied nothing, and the busybox branch, safe on any host with
 * `timeout` and `/proc`, decides; a GNU open failure (a symlink or other
 * name swapped in) is refused as before.
 *
 * @param plan The plan (validated integers; path and roots quoted).
 * @returns The script.
 */
export function fsReadScript(plan: FsReadPlan): string {
  const offset = Math.max(0, Math.trunc(plan.offset));
  const cap = Math.max(0, Math.trunc(plan.outputCapBytes));
  // The busybox branch's bound on a child that a FIFO swapped in after the check makes wait
  // in open(): half the plan's timeout, at most 5 s, so the kill comes before the call's own.
  const seconds = Math.max(1, Math.min(5, Math.floor(plan.timeoutMs / 2000)));
  // Run by the child shell in the busybox branch: $1 the name, $2 the path it must have.
  const child = [
    // `command`: a failed redirection on plain `exec` ends the shell before `||` runs.
    `command exec 3<"./$1" 2>/dev/null || exit ${CHANGED}`,
    `[ "$(readlink /proc/$$/fd/3)" = "$2" ] && [ -f /proc/$$/fd/3 ] || exit ${CHANGED}`,
    `s=$(stat -L -c %s /proc/$$/fd/3) || exit ${CHANGED}`,
    `${
      offset > 0 ? `tail -c +${offset + 1} <&3 | head -c ${cap}` : `head -c ${cap} <&3`
    } || exit ${CHANGED}`,
    `printf '\\0%s\\0' "$s"`,
  ].join("\n");
  // dd copied fewer bytes than asked for: the file ends at offset + n (n = 0 says so only
  // from offset 0, since dd skips past the end of a file without complaint).
  const settled = `[ "$n" -lt ${cap} ] && { [ "$n" -gt 0 ] || [ ${offset} -eq 0 ]; }`;
  return [
    underFunction(plan.roots),
    `p=${quoteArg(plan.path)}; n=0`,
    "while :; do",
    `  d=\${p%/*}; f=\${p##*/}; [ -n "$d" ] || d=/`,
    `  cd -P -- "$d" 2>/dev/null || exit ${NOT_FOUND}`,
    // After `cd -P`, $PWD is the pinned directory's physical path (POSIX), as `pwd -P` prints it.
    `  w=$PWD; [ -n "$w" ] || exit ${NOT_FOUND}; w=\${w%/}`,
    `  under "\${w:-/}" "$@" || { printf '%s\\0' "$w/$f"; exit ${OUTSIDE}; }`,
    `  case $f in ''|.|..) exit ${WRONG_TYPE};; esac`,
    `  if [ -L "./$f" ]; then`,
    `    n=$((n + 1)); [ "$n" -le ${MAX_HOPS} ] || exit ${LOOP}`,
    `    l=$(readlink "./$f" && echo x) || exit ${CHANGED}; l=\${l%??}`,
    `    case $l in /*) p=$l;; *) p=$w/$l;; esac`,
    "    continue",
    "  fi",
    `  [ -e "./$f" ] || exit ${NOT_FOUND}`,
    `  [ -f "./$f" ] || { printf '%s\\0' "$w/$f"; exit ${WRONG_TYPE}; }`,
    `  [ -r "./$f" ] || { printf '%s\\0' "$w/$f"; exit ${UNREADABLE}; }`,
    "  break",
    "done",
    `printf '%s\\0%s\\0' "$w/$f" "$m"; exec 3>&1`,
    // Asked for by file_write's dry run only: the name's own metadata (no -L), one more field.
    ...(plan.metadata
      ? [`printf '%s\\0' "$(stat -c '%a %u %g %U %G' -- "./$f" 2>/dev/null)"`]
      : []),
    // GNU dd: the content to fd 3 (stdout), its report (LC_ALL=C: English) into r.
    `if r=$(LC_ALL=C dd if="./$f" iflag=nofollow,nonblock,skip_bytes,count_bytes skip=${offset} ` +
    `count=${cap} bs=65536 2>&1 >&3); then`,
    `  n=\${r##*"records out"}; n=\${n#?}; n=\${n%%" "*}; case $n in ''|*[!0-9]*) n=${cap};; esac`,
    `  if ${settled}; then s=$((${offset} + n)); else s=$(stat -c %s -- "./$f") || exit ${CHANGED}; fi`,
    `  printf '\\0%s\\0' "$s"; exit 0`,
    "fi",
    // dd opened the name and failed (a symlink or FIFO swapped in), or failed while copying.
    `case $r in *"failed to open"*|*"records in"*) exit ${CHANGED};; esac`,
    `command -v timeout >/dev/null 2>&1 || exit ${NO_SAFE_READ}`,
    // `3>&-`: busybox timeout's watcher closes only fds 0-2; holding our copy of stdout, it
    // would keep the channel open until it next wakes (once a second).
    `timeout -s KILL ${seconds} sh -c ${quoteArg(child)} sh "$f" "$w/$f" 3>&-; exit $?`,
  ].join("\n");
}

/**
 * The remote script for a directory listing: prints `REALPATH\0ROOT\0` then entries.
 *
 * @param plan The plan.
 * @returns The script.
 */
export function fsListScript(plan: FsListPlan): string {
  return [
    underFunction(plan.roots),
    `p=${quoteArg(plan.path)}`,
    `cd -P -- "$p" 2>/dev/null || { [ -e "$p" ] || exit ${NOT_FOUND}; ` +
    `[ -d "$p" ] || exit ${WRONG_TYPE}; exit ${UNREADABLE}; }`,
    `w=$PWD; [ -n "$w" ] || exit ${NOT_FOUND}`,
    `under "$w" "$@" || { printf '%s\\0' "$w"; exit ${OUTSIDE}; }`,
    `[ -r . ] && [ -x . ] || { printf '%s\\0' "$w"; exit ${UNREADABLE}; }`,
    `printf '%s\\0%s\\0' "$w" "$m"`,
    `if find . -maxdepth 0 -printf '' >/dev/null 2>&1; then ` +
    `find . -mindepth 1 -maxdepth 1 -printf '${FIND_ENTRY_FORMAT}' 2>/dev/null; else ` +
    `for f in ./* ./.*; do case \${f##*/} in .|..) continue;; esac; ` +
    `[ -e "$f" ] || [ -L "$f" ] || continue; ` +
    `stat -c '%F\t%s\t%Y\t%a' -- "$f" 2>/dev/null && printf '%s\\0' "\${f##*/}"; done; fi`,
    // An entry renamed or removed while it was listed is simply absent, not a failure.
    "exit 0",
  ].join("\n");
}

/**
 * Whether `path` is one of `roots` or lies beneath one.
 *
 * @param path Absolute path.
 * @param roots Absolute roots.
 * @returns Whether it is under a root.
 */
export function isUnder(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => root === "/" || path === root || path.startsWith(`${root}/`));
}

function failure(run: RawRun, plan: FsReadPlan | FsListPlan, what: string): SshError | null {
  const shown = JSON.stringify(plan.path);
  switch (run.exitCode) {
    case 0:
      return null;
    case NOT_FOUND:
      return new SshError("not_found", `Cannot ${what} ${shown}: it does not exist`);
    case OUTSIDE:
      return new SshError(
        "forbidden",
        `Cannot ${what} ${shown}: its real path lies outside the allowed roots`,
      );
    case WRONG_TYPE:
      // A FIFO, socket or device is refused without being opened, as on the local worker.
      return new SshError(
        "forbidden",
        `Cannot ${what} ${shown}: expected a ${
          what === "read" ? "regular file" : "directory"
        }, found another kind`,
      );
    case UNREADABLE:
      return new SshError("forbidden", `Cannot ${what} ${shown}: permission denied`);
    case CHANGED:
    case KILLED:
      return new SshError(
        "forbidden",
        `Cannot ${what} ${shown}: it changed while it was being opened (refused, not followed)`,
      );
    case LOOP:
      return new SshError(
        "forbidden",
        `Cannot ${what} ${shown}: more than ${MAX_HOPS} symbolic links on its path`,
      );
    case NO_SAFE_READ:
      return new SshError(
        "program_missing",
        `Cannot ${what} ${shown}: the host has neither GNU dd (iflag=nofollow) nor timeout, ` +
          "so the file cannot be opened without a race",
      );
    default:
      return new SshError(
        "bad_response",
        `Cannot ${what} ${shown}: the remote command failed with exit ${run.exitCode}`,
      );
  }
}

function fields(bytes: Uint8Array, count: number): { parts: string[]; rest: Uint8Array } | null {
  const parts: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const end = bytes.indexOf(0, at);
    if (end < 0) return null;
    parts.push(new TextDecoder().decode(bytes.subarray(at, end)));
    at = end + 1;
  }
  return { parts, rest: bytes.subarray(at) };
}

function checkRoots(real: string, root: string, plan: FsReadPlan | FsListPlan, what: string): void {
  if (!isUnder(real, [...plan.roots, root])) {
    throw new SshError(
      "forbidden",
      `Cannot ${what} ${JSON.stringify(plan.path)}: its real path lies outside the allowed roots`,
    );
  }
}

/**
 * Reads a file read's output.
 *
 * @param plan The plan.
 * @param run What the script produced.
 * @returns The result.
 * @throws {SshError} For every failure the script reported.
 */
export function parseFsRead(plan: FsReadPlan, run: RawRun): FsReadResult {
  const error = failure(run, plan, "read");
  if (error) throw error;
  const malformed = () =>
    new SshError(
      "bad_response",
      `Cannot read ${JSON.stringify(plan.path)}: the output was malformed`,
    );
  const head = fields(run.stdout, plan.metadata ? 3 : 2);
  if (!head) throw malformed();
  const [path, root, stat] = head.parts;
  const metadata = plan.metadata ? statFields(stat) : undefined;
  checkRoots(path, root, plan, "read");
  // The content ends with `\0SIZE\0`: the size's digits hold no NUL, so the last two NULs
  // bound it whatever bytes the content holds.
  const rest = head.rest;
  const last = rest.length - 1;
  const start = last > 0 && rest[last] === 0 ? rest.lastIndexOf(0, last - 1) : -1;
  const sizeText = start < 0 ? "" : new TextDecoder().decode(rest.subarray(start + 1, last));
  if (!/^\d{1,19}$/.test(sizeText)) throw malformed();
  const size = Number(sizeText);
  const body = rest.subarray(0, start);
  const truncated = size - plan.offset > body.length;
  return {
    kind: "fs_read",
    path,
    size,
    truncated,
    ...encode(body, truncated),
    ...(metadata ? { metadata } : {}),
  };
}

/** `stat -c '%a %u %g %U %G'` output as metadata, or `undefined` when stat failed. */
function statFields(text: string): FileMetadata | undefined {
  const match = /^([0-7]{1,4}) (\d+) (\d+) (\S+) (\S+)$/.exec(text.trim());
  if (!match) return undefined;
  return {
    mode: match[1].padStart(4, "0"),
    uid: Number(match[2]),
    gid: Number(match[3]),
    owner: match[4],
    group: match[5],
  };
}

function encode(body: Uint8Array, truncated: boolean): Pick<FsReadResult, "content" | "encoding"> {
  // A cut may split a UTF-8 sequence: try dropping up to 3 trailing bytes.
  for (let drop = 0; drop <= (truncated ? 3 : 0); drop++) {
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(
        body.subarray(0, body.length - drop),
      );
      return { content: text, encoding: "utf-8" };
    } catch {
      // Not valid UTF-8 at this length.
    }
  }
  let binary = "";
  for (const byte of body) binary += String.fromCharCode(byte);
  return { content: btoa(binary), encoding: "base64" };
}

/**
 * Reads a listing's output.
 *
 * @param plan The plan.
 * @param run What the script produced.
 * @returns The entries, sorted by name, at most `maxEntries`.
 * @throws {SshError} For every failure the script reported.
 */
export function parseFsList(plan: FsListPlan, run: RawRun): FsListResult {
  const error = failure(run, plan, "list");
  if (error) throw error;
  const text = new TextDecoder().decode(run.stdout);
  const records = text.split("\0");
  const path = records.shift() ?? "";
  checkRoots(path, records.shift() ?? "", plan, "list");
  records.pop(); // after the last NUL: empty, or a record cut by the output cap
  const entries = parseEntryRecords(records);
  return {
    kind: "fs_list",
    path,
    entries: entries.slice(0, plan.maxEntries),
    truncated: run.truncated || entries.length > plan.maxEntries,
  };
}
