/**
 * `disk_usage`: the largest directories under a path inside the target's
 * file roots, to a bounded depth and within a bounded time, with `du`.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";
import { hostPathSchema } from "./_host_schemas.ts";
import { rootsFor } from "./file.ts";

/** The output of `disk_usage`. */
export const diskUsageOutput = z.object({
  path: z.string(),
  total_bytes: z.number().nullable(),
  largest: z.array(z.object({ path: z.string(), bytes: z.number() })),
  partial: z.boolean().describe("Some directories could not be read or the time ran out"),
});

/** The output of `disk_usage`. */
export type DiskUsage = z.infer<typeof diskUsageOutput>;

/** Largest directories under a root. */
export const diskUsage = defineOperation({
  name: "disk_usage",
  title: "Disk usage",
  description:
    "The largest directories under `path` (in the file roots), `depth` levels down (1-3), one filesystem, in bytes: the top `limit` and the total. Symlinks not followed; stops at the target's time limit.",
  input: z.strictObject({
    path: hostPathSchema,
    depth: z.int().min(1).max(3).default(1),
    limit: z.int().min(1).max(200).default(20),
  }),
  output: diskUsageOutput,
  capability: "file:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["du"],
  plan: (args, target) => {
    rootsFor(args.path, target);
    return {
      kind: "exec",
      // -x: one filesystem; -P (the default, said out loud): no symlink is followed.
      commands: [["du", "-x", "-P", "-k", `--max-depth=${args.depth}`, "--", args.path]],
      mode: "all",
      sudo: false,
      ...targetLimits(target),
    };
  },
  parse: (result, args) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "coreutils");
    const rows = cmd.stdout.split("\n").flatMap((line) => {
      const m = line.match(/^(\d+)\t(.+)$/);
      return m ? [{ path: m[2], bytes: Number(m[1]) * 1024 }] : [];
    });
    if (rows.length === 0) {
      throw new OperationError("failed", `du could not read ${args.path}: ${firstErrorLine(cmd)}`);
    }
    const total = rows.find((r) => r.path === args.path)?.bytes ?? null;
    return {
      path: args.path,
      total_bytes: total,
      largest: rows.filter((r) => r.path !== args.path).sort((a, b) => b.bytes - a.bytes)
        .slice(0, args.limit),
      partial: cmd.exitCode !== 0 || cmd.truncated,
    };
  },
  render: (out) =>
    [
      `${out.path}: ${out.total_bytes ?? "?"} bytes${out.partial ? " (partial)" : ""}`,
      ...out.largest.slice(0, 5).map((r) => `${r.bytes} ${r.path}`),
    ].join("\n"),
});
