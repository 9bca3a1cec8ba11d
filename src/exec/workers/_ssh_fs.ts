/**
 * File plans over SSH, one exec each. The remote script resolves the path
 * (`readlink -f`, GNU and busybox alike), checks it lies under one of the
 * roots' real paths, and only then reads or lists. It prints the real path
 * and the real root it matched; we check the one lies under the other (or
 * under a root as written) again on our side, as the local worker does. Listing uses GNU
 * `find -printf` and falls back to `stat -c` (busybox) when `-printf` is
 * missing; both print `TYPE\tSIZE\tMTIME\tMODE\nNAME\0` per entry.
 *
 * @module
 */
import type { DirEntry, FsListPlan, FsListResult, FsReadPlan, FsReadResult } from "../plan.ts";
import { quoteArg } from "../quote.ts";
import { SshError } from "./_ssh_errors.ts";
import type { RawRun } from "./_ssh_exec.ts";

const NOT_FOUND = 66;
const OUTSIDE = 77;
const WRONG_TYPE = 65;
const UNREADABLE = 78;

function resolveAndCheck(path: string, roots: readonly string[], test: "-f" | "-d"): string {
  return [
    `p=$(readlink -f ${quoteArg(path)} && echo x) || exit ${NOT_FOUND}; p=\${p%??}`,
    `[ -e "$p" ] || exit ${NOT_FOUND}`,
    "ok=; for r in " + (roots.length > 0 ? roots.map(quoteArg).join(" ") : "''") + "; do " +
    `r=$(readlink -f "$r" && echo x) || continue; r=\${r%??}; [ "$r" = / ] && r=; ` +
    `case $p in "$r"|"$r"/*) ok=1; break;; esac; done`,
    `[ -n "$ok" ] || { printf '%s\\0' "$p"; exit ${OUTSIDE}; }`,
    `[ ${test} "$p" ] || { printf '%s\\0' "$p"; exit ${WRONG_TYPE}; }`,
    `[ -r "$p" ] || { printf '%s\\0' "$p"; exit ${UNREADABLE}; }`,
  ].join("\n");
}

/**
 * The remote script for a file read: prints `REALPATH\0ROOT\0SIZE\0` then up to
 * `outputCapBytes` bytes from `offset`.
 *
 * @param plan The plan (validated integers; path and roots quoted).
 * @returns The script.
 */
export function fsReadScript(plan: FsReadPlan): string {
  const offset = Math.max(0, Math.trunc(plan.offset));
  const cap = Math.max(0, Math.trunc(plan.outputCapBytes));
  const read = offset > 0
    ? `tail -c +${offset + 1} < "$p" | head -c ${cap}`
    : `head -c ${cap} < "$p"`;
  return `${
    resolveAndCheck(plan.path, plan.roots, "-f")
  }\ns=$(wc -c < "$p") || exit 74\nprintf '%s\\0%s\\0%s\\0' "$p" "\${r:-/}" $s\n${read}`;
}

/**
 * The remote script for a directory listing: prints `REALPATH\0ROOT\0` then entries.
 *
 * @param plan The plan.
 * @returns The script.
 */
export function fsListScript(plan: FsListPlan): string {
  return `${resolveAndCheck(plan.path, plan.roots, "-d")}\nprintf '%s\\0%s\\0' "$p" "\${r:-/}"\n` +
    `if find "$p" -maxdepth 0 -printf '' >/dev/null 2>&1; then ` +
    `find "$p" -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%T@\\t%m\\n%f\\0'; else ` +
    `for f in "$p"/* "$p"/.*; do case \${f##*/} in .|..) continue;; esac; ` +
    `[ -e "$f" ] || [ -L "$f" ] || continue; ` +
    `stat -c '%F\t%s\t%Y\t%a' "$f" && printf '%s\\0' "\${f##*/}"; done; fi`;
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
      return new SshError(
        "not_found",
        `Cannot ${what} ${shown}: expected a ${
          what === "read" ? "regular file" : "directory"
        }, found another kind`,
      );
    case UNREADABLE:
      return new SshError("forbidden", `Cannot ${what} ${shown}: permission denied`);
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
  const head = fields(run.stdout, 3);
  if (!head) {
    throw new SshError(
      "bad_response",
      `Cannot read ${JSON.stringify(plan.path)}: the output was malformed`,
    );
  }
  const [path, root, sizeText] = head.parts;
  checkRoots(path, root, plan, "read");
  const size = Number(sizeText);
  const body = head.rest;
  const truncated = size - plan.offset > body.length;
  return { kind: "fs_read", path, size, truncated, ...encode(body, truncated) };
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

const TYPES: Record<string, DirEntry["type"]> = {
  f: "file",
  d: "directory",
  l: "symlink",
  "regular file": "file",
  "regular empty file": "file",
  directory: "directory",
  "symbolic link": "symlink",
};

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
  const entries: DirEntry[] = [];
  for (const record of records) {
    const newline = record.indexOf("\n");
    if (newline < 0) continue;
    const [type, size, mtime, mode] = record.slice(0, newline).split("\t");
    const seconds = Number(mtime);
    entries.push({
      name: record.slice(newline + 1),
      type: TYPES[type] ?? "other",
      size: Number.isFinite(Number(size)) ? Number(size) : null,
      mtime: Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : null,
      mode: /^[0-7]+$/.test(mode ?? "") ? mode.padStart(4, "0") : null,
    });
  }
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    kind: "fs_list",
    path,
    entries: entries.slice(0, plan.maxEntries),
    truncated: run.truncated || entries.length > plan.maxEntries,
  };
}
