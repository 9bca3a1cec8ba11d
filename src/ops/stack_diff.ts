/**
 * `stack_diff`: what differs between a curated stack and what a host has —
 * each file by diff (file_write's read, under the write roots), and the
 * services the stack defines against the containers that run.
 *
 * @module
 */
import { z } from "zod";
import type { Stack } from "../config/stacks_load.ts";
import type { SequencePlan } from "../exec/plan.ts";
import { LOCAL_FILE_HELPER } from "../exec/local_kind.ts";
import { defineOperation, type Operation, OperationError, targetLimits } from "./operation.ts";
import {
  containersOf,
  describeStackFiles,
  listContainers,
  PROJECT_DIR_REACH,
  readStackFiles,
  serviceState,
  serviceStates,
  stackArgs,
  stackDir,
  stackNamed,
} from "./_stack_host.ts";
import {
  deployedFiles,
  refineStackVariables,
  stackSecrets,
  stackVariablesArg,
} from "./_stack_template.ts";

const output = z.object({
  stack: z.string(),
  /** Every file is as curated and every defined service (and no other) is ready. */
  in_sync: z.boolean(),
  files: z.array(z.object({
    name: z.string(),
    /** `same`, `differs`, `missing`, or `unreadable` (with `error`). */
    state: z.enum(["same", "differs", "missing", "unreadable"]),
    diff: z.string().nullable(),
    /** The mode that differs from the curated one (stack files are written 0644). */
    metadata_changes: z.record(z.string(), z.object({ from: z.string(), to: z.string() }))
      .optional(),
    error: z.string().optional(),
  })),
  services: z.array(serviceState.extend({ defined: z.boolean() })),
});

/**
 * The `stack_diff` operation for the curated stacks.
 *
 * @param stacks The stacks loaded at start (at least one).
 * @returns The operation.
 */
export function stackDiff(stacks: readonly Stack[]): Operation {
  const input = z.strictObject({ ...stackArgs(stacks), variables: stackVariablesArg(stacks) })
    .superRefine(refineStackVariables(stacks));
  return defineOperation({
    name: "stack_diff",
    title: "Compare a compose stack with a host",
    description: "Compares a curated stack (" + stacks.map((s) => s.name).join(", ") +
      ") with what a host has in project_dir (default: first write root / stack name), its " +
      "env templates filled with variables: each " +
      "file as same, differs (with a unified diff from the host's to the curated content, and " +
      "the mode when that differs) or " +
      "missing, and each service the stack defines or the host runs, with its containers' " +
      "state. in_sync: nothing differs and every defined service is ready.",
    input,
    output,
    capability: "stack:read",
    targetTypes: ["local", "ssh"],
    mutates: false,
    destructive: false,
    paramReach: PROJECT_DIR_REACH,
    programs: [LOCAL_FILE_HELPER, "docker"],
    secrets: stackSecrets(stacks),
    plan: (args, target): SequencePlan => {
      const stack = stackNamed(stacks, args.stack);
      return {
        kind: "sequence",
        ...targetLimits(target),
        continueOnFailure: true,
        steps: [
          ...readStackFiles(deployedFiles(stack, args.variables), target, {
            dir: stackDir(args, target),
          }),
          { plan: listContainers("stack_diff", stack.name, target) },
        ],
      };
    },
    parse: (result, args) => {
      if (result.kind !== "sequence") {
        throw new OperationError("bad_output", `Expected a sequence result, found ${result.kind}`);
      }
      const stack = stackNamed(stacks, args.stack);
      const files = describeStackFiles(deployedFiles(stack, args.variables), result.steps).map(
        (f) => {
          const error = f.error as { code: string; message: string } | undefined;
          const state = error
            ? "unreadable" as const
            : f.current === null
            ? "missing" as const
            : f.would_change
            ? "differs" as const
            : "same" as const;
          const metadata = f.metadata_changes as Record<string, { from: string; to: string }>;
          return {
            name: f.name as string,
            state,
            diff: state === "differs" ? (f.diff as string | null) : null,
            ...(state === "differs" && metadata ? { metadata_changes: metadata } : {}),
            ...(error ? { error: error.message } : {}),
          };
        },
      );
      const listing = result.steps[stack.files.length];
      if (!listing || !("ok" in listing)) {
        throw new OperationError("bad_output", "The container listing did not run");
      }
      const defined = stack.services.map((s) => s.name);
      const services = serviceStates(containersOf(listing), defined).map((s) => ({
        ...s,
        defined: defined.includes(s.service),
      }));
      return {
        stack: stack.name,
        in_sync: files.every((f) => f.state === "same") &&
          services.every((s) => s.defined && s.ready),
        files,
        services,
      };
    },
    render: (out) =>
      [
        `${out.stack}: ${out.in_sync ? "in sync" : "differs"}`,
        ...out.files.filter((f) => f.state !== "same").map((f) => `  ${f.name}: ${f.state}`),
        ...out.services.filter((s) => !s.defined || !s.ready).map((s) =>
          `  ${s.service}: ${
            !s.defined
              ? "not in the stack"
              : s.containers.length === 0
              ? "not running"
              : "not ready"
          }`
        ),
      ].join("\n"),
  });
}
