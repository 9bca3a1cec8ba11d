/**
 * What `stack_deploy`, `stack_diff` and `stack_down` share: the curated
 * stack argument, where a stack lives on a host, reading its files there
 * (file_write's own check), and listing its containers.
 *
 * @module
 */
import { z } from "zod";
import type { Stack } from "../config/stacks_load.ts";
import type { Target } from "../config/targets_schema.ts";
import {
  type ComposeContainer,
  composePsArgv,
  containerSettled,
  parseComposePs,
} from "../exec/compose_ps.ts";
import type { ExecFailure, ExecPlan, PlanResult, SequencePlan } from "../exec/plan.ts";
import { rootsFor } from "./file.ts";
import { describeFileChange, fileWrite } from "./file_write.ts";
import type { DeployedFile } from "./_stack_template.ts";
import { hostPathSchema } from "./_host_schemas.ts";
import { OperationError, targetLimits, usesSudo } from "./operation.ts";
import { isProgramMissing } from "./_host_result.ts";

/** A step's or a plan's outcome as the host reports it. */
export type Outcome = { ok: true; result: PlanResult } | { ok: false; error: ExecFailure };

/**
 * The arguments every stack operation takes: which curated stack, and where.
 *
 * @param stacks The curated stacks (at least one).
 * @returns `stack` (one of their names) and `project_dir`.
 */
export function stackArgs(stacks: readonly Stack[]) {
  const names = stacks.map((s) => s.name) as [string, ...string[]];
  return {
    stack: z.enum(names, { error: `Invalid stack: expected one of ${names.join(", ")}` }),
    project_dir: hostPathSchema.optional().describe(
      "Where the stack's files are on the host; default: the target's first write root / the " +
        "stack's name",
    ),
  };
}

/** `project_dir`'s reach when left out. */
export const PROJECT_DIR_REACH = {
  project_dir: { absent: "the first write root / the stack's name" },
} as const;

/**
 * The curated stack a call names.
 *
 * @param stacks The curated stacks.
 * @param name The validated name.
 * @returns The stack.
 */
export function stackNamed(stacks: readonly Stack[], name: string): Stack {
  return stacks.find((s) => s.name === name)!;
}

/**
 * A stack's directory on a target: `project_dir`, else the first write root / the stack name.
 *
 * @param args The stack name and optional directory.
 * @param target The target.
 * @returns The absolute directory.
 * @throws {OperationError} `forbidden` when the target has no write roots.
 */
export function stackDir(args: { stack: string; project_dir?: string }, target: Target): string {
  if (args.project_dir) return args.project_dir;
  const roots = target.type === "local" || target.type === "ssh" ? target.files.write_roots : [];
  if (roots.length === 0) rootsFor("/", target, "write_roots");
  return `${roots[0] === "/" ? "" : roots[0]}/${args.stack}`;
}

/**
 * file_write's validated arguments for one stack file.
 *
 * @param dir The stack's directory on the host.
 * @param file The file as deployed (a template filled).
 * @returns The arguments.
 */
export function fileArgs(dir: string, file: DeployedFile) {
  return fileWrite.input.parse({ path: `${dir}/${file.name}`, content: file.content });
}

/**
 * Reads every file of a stack as it is on the host (file_write's dry-run read).
 *
 * @param files The stack's files as deployed.
 * @param target The target.
 * @param options `dir`: the stack's directory on the host; `sudoAs`: the operation whose entry in
 *   the target's `sudo` decides sudo for the reads (default: file_write's).
 * @returns One step per file, in the stack's order.
 */
export function readStackFiles(
  files: readonly DeployedFile[],
  target: Target,
  options: { dir: string; sudoAs?: string },
): SequencePlan["steps"] {
  type StepPlan = SequencePlan["steps"][number]["plan"];
  return files.map((file) => {
    const plan = fileWrite.checkPlan!(fileArgs(options.dir, file), target) as StepPlan;
    const sudoAs = options.sudoAs;
    return { plan: sudoAs === undefined ? plan : { ...plan, sudo: usesSudo(target, sudoAs) } };
  });
}

/**
 * Each file's state on the host against the curated one: file_write's own
 * diff (labelled with the file's name in the stack), a template's secrets
 * masked on both sides.
 *
 * @param files The stack's files as deployed.
 * @param steps The sequence's steps, the file reads first.
 * @returns Name, `would_change`, diff and digests per file.
 */
export function describeStackFiles(
  files: readonly DeployedFile[],
  steps: readonly (Outcome | { skipped: true } | undefined)[],
): Record<string, unknown>[] {
  return files.map((file, i) => {
    const step = steps[i];
    const one: Outcome = step && "ok" in step ? step : {
      ok: false,
      error: { code: "not_found", message: "" },
    };
    const bytes = new TextEncoder().encode(file.content);
    // The mode a deploy writes it with (file_write's default), so a changed mode shows too.
    const { mode } = fileArgs("", file);
    return {
      name: file.name,
      ...describeFileChange(one, {
        ...file,
        bytes,
        text: file.content,
        path: `/${file.name}`,
        mode,
      }),
    };
  });
}

/**
 * An exec plan listing the stack's containers on the host (`docker ps`).
 *
 * @param operation The operation, for the target's sudo policy.
 * @param stack The stack name (its compose project).
 * @param target The target.
 * @returns The plan.
 */
export function listContainers(operation: string, stack: string, target: Target): ExecPlan {
  return {
    kind: "exec",
    ...targetLimits(target),
    commands: [composePsArgv(stack)],
    mode: "all",
    sudo: usesSudo(target, operation),
  };
}

/** One service's state on the host. */
export const serviceState = z.object({
  service: z.string(),
  /** Every container runs, and is healthy where it has a health check. */
  ready: z.boolean(),
  containers: z.array(z.object({
    name: z.string(),
    state: z.string(),
    status: z.string(),
    health: z.string().nullable(),
  })),
});

/**
 * Reads a container listing step.
 *
 * @param outcome The listing's outcome.
 * @returns The containers.
 * @throws {OperationError} When the listing failed or cannot be read.
 */
export function containersOf(outcome: Outcome): ComposeContainer[] {
  if (!outcome.ok) {
    throw new OperationError(
      outcome.error.code,
      `Cannot list the stack's containers: ${outcome.error.message}`,
    );
  }
  const result = outcome.result;
  const cmd = result.kind === "exec" ? result.commands[0] : undefined;
  if (!cmd) throw new OperationError("bad_output", "The container listing did not run");
  if (isProgramMissing(cmd)) {
    throw new OperationError(
      "program_missing",
      "Cannot list the stack's containers: the docker CLI is not installed on this host",
    );
  }
  if (cmd.exitCode !== 0) {
    const line = cmd.stderr.trim().split("\n").at(-1)?.slice(0, 200) ?? "";
    throw new OperationError("compose_failed", `Cannot list the stack's containers: ${line}`);
  }
  try {
    return parseComposePs(cmd.stdout);
  } catch (error) {
    throw new OperationError("bad_output", (error as Error).message);
  }
}

/**
 * Per service: its containers and whether they are ready; services with no
 * container are listed with none.
 *
 * @param containers The project's containers.
 * @param services The services expected.
 * @returns One entry per expected or present service, by name.
 */
export function serviceStates(
  containers: readonly ComposeContainer[],
  services: readonly string[],
): z.infer<typeof serviceState>[] {
  const names = [...new Set([...services, ...containers.map((c) => c.service)])].sort();
  return names.map((service) => {
    const mine = containers.filter((c) => c.service === service);
    return {
      service,
      ready: mine.length > 0 && mine.every(containerSettled),
      containers: mine.map(({ name, state, status, health }) => ({ name, state, status, health })),
    };
  });
}

/**
 * One line per service that is not ready: `exporter: unhealthy`, `agent: no container`.
 *
 * @param states The services' states.
 * @param expected The services that should be up.
 * @returns The lines, empty when every expected service is ready.
 */
export function notReady(
  states: readonly z.infer<typeof serviceState>[],
  expected: readonly string[],
): string[] {
  return states.filter((s) => expected.includes(s.service) && !s.ready).map((s) =>
    s.containers.length === 0
      ? `${s.service}: no container`
      : `${s.service}: ${
        s.containers.map((c) => c.health && c.health !== "healthy" ? c.health : c.state).join(
          ", ",
        )
      }`
  );
}
