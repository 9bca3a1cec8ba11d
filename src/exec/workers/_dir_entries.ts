/**
 * Directory entries as the listing helpers print them: GNU
 * `find -printf '%y\t%s\t%T@\t%m\n%f\0'` or busybox `stat -c '%F\t%s\t%Y\t%a'`
 * followed by `NAME\0`, one record per entry; the local worker's file helper
 * prints the `find` form itself. Used by the local worker and the SSH worker
 * alike.
 *
 * @module
 */
import type { DirEntry } from "../plan.ts";

/** The `find -printf` format behind {@linkcode parseEntryRecords}. */
export const FIND_ENTRY_FORMAT = "%y\\t%s\\t%T@\\t%m\\n%f\\0";

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
 * Turns `TYPE\tSIZE\tMTIME\tMODE\nNAME` records (split at NUL, the part after
 * the last NUL already dropped) into entries sorted by name.
 *
 * @param records The records.
 * @returns The entries; records without a newline are skipped.
 */
export function parseEntryRecords(records: readonly string[]): DirEntry[] {
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
  return entries;
}
