/**
 * `stack_deploy`: copies a stack the operator curates on the gateway
 * (`TAILOPS_STACKS/NAME/`) to a host's project directory with file_write's
 * machinery (atomic, no symlinks followed, backups), then runs compose
 * `up --detach` there — only when a file changed, unless `force`. Dry run
 * shows every file's diff and the compose command per target. Rollouts over
 * several targets use the envelope's `serial` and `max_failures`.
 *
 * @module
 */
import { z } from "zod";
import type { Stack } from "../config/stacks_load.ts";
import type { Target } from "../config/targets_schema.ts";
import type { ExecFailure, FsWritePlan, PlanResult, SequencePlan } from "../exec/plan.ts";
import { COMPOSE_CLIS, composeArgv, parseCompose, serviceNameSchema } from "./compose.ts";
import { rootsFor } from "./file.ts";
import { fileWrite, WRITE_HELPERS } from "./file_write.ts";
import { hostPathSchema } from "./_host_schemas.ts";
import {
  defineOperation,
  type Operation,
  OperationError,
  targetLimits,
  usesSudo,
} from "./operation.ts";

type Outcome = { ok: true; result: PlanResult } | { ok: false; error: ExecFailure };

const fileOutput = z.object({
  name: z.string(),
  path: z.string(),
  bytes: z.number(),
  changed: z.boolean(),
  sha256: z.string(),
  previous_sha256: z.string().nullable(),
  backup: z.string().nullable(),
});

const output = z.object({
  stack: z.string(),
  project_dir: z.string(),
  changed: z.boolean(),
  files: z.array(fileOutput),
  compose: z.object({ compose: z.string(), output: z.string(), truncated: z.boolean() }).nullable(),
});

/**
 * The `stack_deploy` operation for the curated stacks.
 *
 * @param stacks The stacks loaded at start (at least one).
 * @returns The operation.
 */
export function stackDeploy(stacks: readonly Stack[]): Operation {
  const names = stacks.map((s) => s.name) as [string, ...string[]];
  const input = z.strictObject({
    stack: z.enum(names, { error: `Invalid stack: expected one of ${names.join(", ")}` }),
    project_dir: hostPathSchema.optional().describe(
      "Where the stack's files go; default: the target's first write root / the stack's name",
    ),
    services: z.array(serviceNameSchema).max(64).default([]),
    force: z.boolean().default(false).describe("Run compose up even when no file changed"),
  });
  type Args = z.infer<typeof input>;
  const stackOf = (args: Args) => stacks.find((s) => s.name === args.stack)!;
  const dirOf = (args: Args, target: Target) => {
    if (args.project_dir) return args.project_dir;
    const roots = target.type === "local" || target.type === "ssh" ? target.files.write_roots : [];
    if (roots.length === 0) rootsFor("/", target, "write_roots");
    return `${roots[0] === "/" ? "" : roots[0]}/${args.stack}`;
  };
  const writeArgs = (args: Args, target: Target, file: Stack["files"][number]) =>
    fileWrite.input.parse({ path: `${dirOf(args, target)}/${file.name}`, content: file.content });
  return defineOperation({
    name: "stack_deploy",
    title: "Deploy a compose stack",
    description: `Copies a compose stack curated on the gateway (${names.join(", ")}) to ` +
      "project_dir on the host (default: first write root / stack name), each file written " +
      "atomically with a backup, then runs `docker compose up --detach` (or docker-compose) " +
      "there when a file changed (force: always). services: only these. Dry run shows each " +
      "file's diff and the compose command. Over several targets, serial rolls out in batches.",
    input,
    output,
    capability: "file:write",
    targetTypes: ["local", "ssh"],
    mutates: true,
    destructive: true,
    paramReach: {
      project_dir: { absent: "the first write root / the stack's name" },
      services: { absent: "every service of the stack" },
    },
    programs: [...WRITE_HELPERS, ...COMPOSE_CLIS.map((cli) => cli.prefix[0])],
    plan: (args, target): SequencePlan => {
      const dir = dirOf(args, target);
      const limits = targetLimits(target);
      const writes = stackOf(args).files.map((file) => ({
        plan: {
          ...fileWrite.plan(writeArgs(args, target, file), target),
          makeDir: true,
          // Under sudo where the target's sudo names stack_deploy (not file_write).
          sudo: usesSudo(target, "stack_deploy"),
        } as FsWritePlan,
      }));
      const compose = {
        kind: "exec" as const,
        ...limits,
        commands: COMPOSE_CLIS.map((cli) =>
          composeArgv({ project_dir: dir, services: args.services }, ["up", "--detach"], cli.prefix)
        ),
        mode: "first_available" as const,
        sudo: usesSudo(target, "stack_deploy"),
      };
      return {
        kind: "sequence",
        ...limits,
        timeoutMs: limits.timeoutMs * (writes.length + 1),
        steps: [...writes, { plan: compose, onlyIfChanged: !args.force }],
      };
    },
    checkPlan: (args, target): SequencePlan => ({
      kind: "sequence",
      ...targetLimits(target),
      continueOnFailure: true,
      steps: stackOf(args).files.map((file) => ({
        plan: {
          ...fileWrite.checkPlan!(writeArgs(args, target, file), target),
          sudo: usesSudo(target, "stack_deploy"),
        } as SequencePlan["steps"][number]["plan"],
      })),
    }),
    describeCheck: (outcome: Outcome, args) => {
      if (!outcome.ok || outcome.result.kind !== "sequence") {
        return { error: outcome.ok ? { code: "bad_output", message: "No result" } : outcome.error };
      }
      const steps = outcome.result.steps;
      const files = stackOf(args).files.map((file, i) => {
        const step = steps[i];
        const one: Outcome = step && "ok" in step && step.ok ? { ok: true, result: step.result } : {
          ok: false,
          error: step && "error" in step ? step.error : { code: "not_found", message: "" },
        };
        // The diff's "+++" side is labelled with the file's name in the stack.
        const shown = fileWrite.input.parse({ path: `/${file.name}`, content: file.content });
        const described: Record<string, unknown> = fileWrite.describeCheck!(one, shown);
        return { name: file.name, ...described } as Record<string, unknown>;
      });
      const changed = files.some((f) => f.would_change !== false);
      return { files, would_run_compose: changed || args.force };
    },
    parse: (result, args) => {
      if (result.kind !== "sequence") {
        throw new OperationError("bad_output", `Expected a sequence result, found ${result.kind}`);
      }
      const stack = stackOf(args);
      const files: z.infer<typeof fileOutput>[] = [];
      for (const [i, file] of stack.files.entries()) {
        const step = result.steps[i];
        if (!step || !("ok" in step)) {
          throw new OperationError("bad_output", "A file step is missing");
        }
        if (!step.ok) {
          throw new OperationError(
            step.error.code,
            `Cannot write ${file.name} (after ${files.length} file(s)): ${step.error.message}`,
          );
        }
        const written = fileWrite.parse(step.result, {} as never);
        files.push({ name: file.name, ...written });
      }
      const last = result.steps[stack.files.length];
      let compose: z.infer<typeof output>["compose"] = null;
      if (last && "ok" in last) {
        if (!last.ok) throw new OperationError(last.error.code, last.error.message);
        const dir = files[0]?.path.replace(/\/[^/]*$/, "") ?? "";
        const done = parseCompose(last.result, { project_dir: dir }, "bring the stack up");
        compose = { compose: done.compose, output: done.output, truncated: done.truncated };
      }
      return {
        stack: stack.name,
        project_dir: files[0]?.path.replace(/\/[^/]*$/, "") ?? "",
        changed: files.some((f) => f.changed),
        files,
        compose,
      };
    },
    render: (out) =>
      `${out.stack} in ${out.project_dir}: ${
        out.changed
          ? `${out.files.filter((f) => f.changed).length} file(s) changed`
          : "nothing changed"
      }${out.compose ? `; ${out.compose.compose} up ran` : ""}`,
  });
}
