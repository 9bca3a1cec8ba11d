/**
 * Files under a target's allowed roots: `read_file` and `list_directory`.
 * Both refuse a path outside the roots in `plan()`, before any I/O; the
 * executor checks again after resolving symlinks.
 *
 * @module
 */
import { z } from "zod";
import type { Target } from "../config/targets_schema.ts";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { LOCAL_FILE_HELPER } from "../exec/local_kind.ts";
import { hostPathSchema, hostRoots, isUnderRoots } from "./_host_schemas.ts";

const MIB = 1024 * 1024;

/**
 * The target's roots, once the path is known to lie under one of them.
 * A target without roots allows no file access at all: refusing here, rather
 * than planning work the executor would refuse, keeps dry runs honest.
 *
 * @param path A validated absolute path.
 * @param target The target.
 * @param which `roots` (reads, the default) or `write_roots` (file_write).
 * @returns The roots to put in the plan.
 * @throws {OperationError} `forbidden` when the target has no roots or the path lies outside them.
 */
export function rootsFor(
  path: string,
  target: Target,
  which: "roots" | "write_roots" = "roots",
): readonly string[] {
  const roots = which === "roots"
    ? hostRoots(target)
    : target.type === "local" || target.type === "ssh"
    ? target.files.write_roots
    : [];
  const label = which === "roots" ? "allowed roots" : "write roots";
  if (roots.length === 0) {
    throw new OperationError(
      "forbidden",
      `Target "${target.id}" allows no file ${which === "roots" ? "access" : "writes"}: ` +
        `its files.${which} list is empty`,
    );
  }
  if (!isUnderRoots(path, roots)) {
    throw new OperationError(
      "forbidden",
      `Path ${JSON.stringify(path)} is outside the ${label} of target "${target.id}": ${
        roots.join(", ")
      }`,
    );
  }
  return roots;
}

/** A file's content. */
export const readFileOutput = z.object({
  path: z.string(),
  size: z.number(),
  offset: z.number(),
  encoding: z.enum(["utf-8", "base64"]),
  content: z.string(),
  truncated: z.boolean(),
});

/** Read part of a file under the target's allowed roots. */
export const readFile = defineOperation({
  name: "read_file",
  title: "Read a file",
  description:
    "Reads up to `max_bytes` (default 65536) of a file under the target's roots from byte `offset`, as UTF-8 or base64 when not text, with its size, real path and whether it was cut. `path` is absolute, without . or .. segments.",
  input: z.strictObject({
    path: hostPathSchema,
    max_bytes: z.int().min(1).max(MIB).default(64 * 1024),
    offset: z.int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  }),
  output: readFileOutput,
  capability: "file:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  // Local targets: the file helper tells the worker where the opened descriptor really is.
  programs: [LOCAL_FILE_HELPER],
  plan: (args, target) => {
    const limits = targetLimits(target);
    return {
      kind: "fs_read",
      path: args.path,
      roots: rootsFor(args.path, target),
      offset: args.offset,
      ...limits,
      // The plan has no byte count of its own: the output cap is the read size.
      outputCapBytes: Math.min(args.max_bytes, limits.outputCapBytes),
    };
  },
  parse: (result, args) => {
    if (result.kind !== "fs_read") {
      throw new OperationError(
        "bad_output",
        `Expected file content, found a ${result.kind} result`,
      );
    }
    const { path, size, encoding, content, truncated } = result;
    return { path, size, offset: args.offset, encoding, content, truncated };
  },
  render: (out) =>
    `${out.path} (${out.size} bytes${out.truncated ? ", cut" : ""}, from byte ${out.offset})\n${
      out.encoding === "utf-8" ? out.content.slice(0, 2000) : "(binary content, base64)"
    }`,
});

const entrySchema = z.object({
  name: z.string(),
  type: z.enum(["file", "directory", "symlink", "other"]),
  size: z.number().nullable(),
  mtime: z.string().nullable(),
  mode: z.string().nullable(),
});

/** A directory listing. */
export const listDirectoryOutput = z.object({
  path: z.string(),
  entries: z.array(entrySchema),
  truncated: z.boolean(),
});

/** List a directory under the target's allowed roots. */
export const listDirectory = defineOperation({
  name: "list_directory",
  title: "List a directory",
  description:
    "Lists up to `limit` entries (default 200) of a directory under the target's roots: name, type (file, directory, symlink, other), size, mtime, octal mode, and whether the list was cut. `path` is absolute, without . or .. segments.",
  input: z.strictObject({
    path: hostPathSchema,
    limit: z.int().min(1).max(1000).default(200),
  }),
  output: listDirectoryOutput,
  capability: "file:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  // Local targets: the file helper checks the opened directory and lists it through its fd.
  programs: [LOCAL_FILE_HELPER],
  plan: (args, target) => ({
    kind: "fs_list",
    path: args.path,
    roots: rootsFor(args.path, target),
    maxEntries: args.limit,
    ...targetLimits(target),
  }),
  parse: (result) => {
    if (result.kind !== "fs_list") {
      throw new OperationError("bad_output", `Expected a listing, found a ${result.kind} result`);
    }
    return { path: result.path, entries: [...result.entries], truncated: result.truncated };
  },
  render: (out) => {
    const shown = out.entries.slice(0, 20).map((e) =>
      `${e.type === "directory" ? "d" : "-"} ${e.name}`
    );
    const more = out.entries.length > 20 ? [`… ${out.entries.length - 20} more`] : [];
    return [
      `${out.path}: ${out.entries.length} entries${out.truncated ? " (cut)" : ""}`,
      ...shown,
      ...more,
    ]
      .join("\n");
  },
});
