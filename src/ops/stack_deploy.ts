/**
 * `stack_deploy`: copies a stack the operator curates on the gateway
 * (`TAILOPS_STACKS/NAME/`) to a host's project directory with file_write's
 * machinery (atomic, no symlinks followed, backups), then — only when a file
 * changed, unless `force` — pulls the services whose images come from a
 * registry and runs compose `up --detach` there, and finally waits until
 * every service runs (healthy where it has a health check) or `wait_s`
 * passed, reporting each service's state. Dry run shows every file's diff
 * and every command per target. Rollouts over several targets use the
 * envelope's `serial` and `max_failures`.
 *
 * @module
 */
import { z } from "zod";
import { isPulled, type Stack } from "../config/stacks_load.ts";
import type { FsWritePlan, SequencePlan } from "../exec/plan.ts";
import { composeExec, parseCompose, serviceNameSchema } from "./compose.ts";
import { fileWrite, sha256Hex, WRITE_HELPERS } from "./file_write.ts";
import {
  defineOperation,
  type Operation,
  OperationError,
  targetLimits,
  usesSudo,
} from "./operation.ts";
import {
  containersOf,
  describeStackFiles,
  fileArgs,
  listContainers,
  notReady,
  type Outcome,
  PROJECT_DIR_REACH,
  readStackFiles,
  serviceState,
  serviceStates,
  stackArgs,
  stackDir,
  stackNamed,
} from "./_stack_host.ts";
import {
  type DeployedFile,
  deployedFiles,
  refineStackVariables,
  stackSecrets,
  stackVariablesArg,
} from "./_stack_template.ts";

const fileOutput = z.object({
  name: z.string(),
  path: z.string(),
  bytes: z.number(),
  changed: z.boolean(),
  sha256: z.string(),
  previous_sha256: z.string().nullable(),
  backup: z.string().nullable(),
});

const composeRun = z.object({ compose: z.string(), output: z.string(), truncated: z.boolean() });

const output = z.object({
  stack: z.string(),
  project_dir: z.string(),
  /** Whether a file changed (compose then pulled and ran `up`). */
  changed: z.boolean(),
  files: z.array(fileOutput),
  /** Services whose images were pulled (empty when pull did not run). */
  pulled: z.array(z.string()),
  /** `up`'s run, or `null` when it did not run (nothing changed). */
  compose: composeRun.nullable(),
  services: z.array(serviceState),
  /** Settings of the compose file that reach the host (see stacks_load.ts). */
  warnings: z.array(z.string()),
});

/** Seconds `stack_deploy` waits for services by default. */
export const DEFAULT_WAIT_S = 60;
/** How often the services are looked at while waiting. */
const POLL_MS = 1_000;

/**
 * The `stack_deploy` operation for the curated stacks.
 *
 * @param stacks The stacks loaded at start (at least one).
 * @returns The operation.
 */
export function stackDeploy(stacks: readonly Stack[]): Operation {
  const names = stacks.map((s) => s.name);
  const input = z.strictObject({
    ...stackArgs(stacks),
    variables: stackVariablesArg(stacks),
    services: z.array(serviceNameSchema).max(64).default([]),
    force: z.boolean().default(false).describe(
      "Pull and run compose up even when no file changed",
    ),
    wait_s: z.int().min(0).max(600).default(DEFAULT_WAIT_S).describe(
      "Seconds to wait for every service to run (and be healthy where it has a health check)",
    ),
  }).superRefine(refineStackVariables(stacks));
  type Args = z.infer<typeof input>;
  /** The services this call deploys, and of them those whose images are pulled. */
  const servicesOf = (args: Args) => {
    const stack = stackNamed(stacks, args.stack);
    const all = stack.services.map((s) => s.name);
    const chosen = args.services.length > 0 ? args.services : all;
    for (const name of chosen) {
      if (!all.includes(name)) {
        throw new OperationError(
          "invalid_arguments",
          `Invalid service ${JSON.stringify(name)}: stack "${stack.name}" defines ${
            all.join(", ")
          }`,
        );
      }
    }
    const pulled = stack.services.filter((s) => chosen.includes(s.name) && isPulled(s))
      .map((s) => s.name);
    return { chosen, pulled };
  };
  return defineOperation({
    name: "stack_deploy",
    title: "Deploy a compose stack",
    description: `Deploys a compose stack curated on the gateway (${names.join(", ")}): ` +
      "copies its files to project_dir on the host (default: first write root / stack name), " +
      "each written atomically with a backup; when a file changed (force: always) pulls the " +
      "images that come from a registry (pull_policy unset or always, no build) and runs " +
      "compose up --detach (the docker compose plugin, or docker-compose); then waits up to " +
      "wait_s for every service to run and be healthy, and reports each service's state. " +
      "Nothing changed: nothing is restarted. Dry run shows each file's diff and every " +
      "command. services: only these. variables: values for the stack's env templates " +
      "(a changed value changes that file, so compose up runs). Over several targets, serial " +
      "rolls out in batches.",
    input,
    output,
    capability: "file:write",
    targetTypes: ["local", "ssh"],
    mutates: true,
    streamsOutput: true,
    destructive: true,
    paramReach: { ...PROJECT_DIR_REACH, services: { absent: "every service of the stack" } },
    programs: [...WRITE_HELPERS, "docker", "docker-compose"],
    secrets: stackSecrets(stacks),
    // The caller's variables as given (secrets are never among them); each filled template
    // by digest and size, like file_write's. Refusals audit the arguments as given too: the
    // stack may be unknown there, the variables absent.
    auditArgs: (args) => {
      const stack = stacks.find((s) => s.name === args.stack);
      const templated = new Set(stack?.files.filter((f) => "template" in f).map((f) => f.name));
      if (!stack || templated.size === 0) return args;
      let files: DeployedFile[] = [];
      try {
        files = deployedFiles(stack, args.variables ?? {});
      } catch {
        // Variables that do not fill the templates were refused: nothing was rendered.
      }
      const rendered = files.filter((f) => templated.has(f.name)).map((f) => {
        const bytes = new TextEncoder().encode(f.content);
        return { name: f.name, sha256: sha256Hex(bytes), bytes: bytes.length };
      });
      return { ...args, rendered };
    },
    plan: (args, target): SequencePlan => {
      const dir = stackDir(args, target);
      const stack = stackNamed(stacks, args.stack);
      const { chosen, pulled } = servicesOf(args);
      const limits = targetLimits(target);
      const writes = deployedFiles(stack, args.variables).map((file) => ({
        plan: {
          ...fileWrite.plan(fileArgs(dir, file), target),
          makeDir: true,
          // Under sudo where the target's sudo names stack_deploy (not file_write).
          sudo: usesSudo(target, "stack_deploy"),
        } as FsWritePlan,
      }));
      const compose = { project_dir: dir, project: stack.name };
      const onlyIfChanged = !args.force;
      const pull = pulled.length === 0 ? [] : [{
        plan: composeExec("stack_deploy", { ...compose, services: pulled }, {
          verb: ["pull", "--quiet"],
          target,
        }),
        onlyIfChanged,
      }];
      const up = {
        plan: composeExec("stack_deploy", { ...compose, services: args.services }, {
          verb: ["up", "--detach", "--remove-orphans"],
          target,
        }),
        onlyIfChanged,
      };
      const wait = {
        plan: listContainers("stack_deploy", stack.name, target),
        until: { services: chosen, everyMs: POLL_MS, withinMs: args.wait_s * 1000, onlyIfChanged },
      };
      // A stack without services has no containers to wait for.
      const steps = [...writes, ...pull, up, ...(chosen.length > 0 ? [wait] : [])];
      return {
        kind: "sequence",
        ...limits,
        timeoutMs: limits.timeoutMs * steps.length + args.wait_s * 1000,
        steps,
      };
    },
    checkPlan: (args, target): SequencePlan => ({
      kind: "sequence",
      ...targetLimits(target),
      continueOnFailure: true,
      steps: readStackFiles(deployedFiles(stackNamed(stacks, args.stack), args.variables), target, {
        dir: stackDir(args, target),
        sudoAs: "stack_deploy",
      }),
    }),
    describeCheck: (outcome: Outcome, args) => {
      if (!outcome.ok || outcome.result.kind !== "sequence") {
        return { error: outcome.ok ? { code: "bad_output", message: "No result" } : outcome.error };
      }
      const stack = stackNamed(stacks, args.stack);
      const files = describeStackFiles(
        deployedFiles(stack, args.variables),
        outcome.result.steps,
      );
      const changed = files.some((f) => f.would_change !== false);
      return {
        files,
        would_run_compose: changed || args.force,
        would_pull: changed || args.force ? servicesOf(args).pulled : [],
        warnings: stack.warnings,
      };
    },
    parse: (result, args) => {
      if (result.kind !== "sequence") {
        throw new OperationError("bad_output", `Expected a sequence result, found ${result.kind}`);
      }
      const stack = stackNamed(stacks, args.stack);
      const { chosen, pulled } = servicesOf(args);
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
        files.push({ name: file.name, ...fileWrite.parse(step.result, {} as never) });
      }
      const dir = files[0]?.path.replace(/\/[^/]*$/, "") ?? "";
      const changed = files.some((f) => f.changed);
      let next = stack.files.length;
      const composeStep = (doing: string) => {
        const step = result.steps[next++];
        if (!step || !("ok" in step)) return null;
        if (!step.ok) throw new OperationError(step.error.code, step.error.message);
        const done = parseCompose(step.result, { project_dir: dir }, doing);
        return { compose: done.compose, output: done.output, truncated: done.truncated };
      };
      const pulledRun = pulled.length > 0 ? composeStep("pull the stack's images") : null;
      const compose = composeStep("bring the stack up");
      const listing = result.steps[next];
      if (chosen.length > 0 && (!listing || !("ok" in listing))) {
        throw new OperationError("bad_output", "The container listing did not run");
      }
      const services = listing && "ok" in listing
        ? serviceStates(containersOf(listing), chosen)
        : [];
      const waiting = notReady(services, chosen);
      if (waiting.length > 0) {
        throw new OperationError(
          "not_ready",
          compose === null
            ? `Nothing changed, so compose did not run, and not every service is up (${
              waiting.join("; ")
            }); deploy with force: true to bring it up`
            : `Not every service was running and healthy within ${args.wait_s} s: ${
              waiting.join("; ")
            }`,
        );
      }
      return {
        stack: stack.name,
        project_dir: dir,
        changed,
        files,
        pulled: pulledRun ? pulled : [],
        compose,
        services,
        warnings: [...stack.warnings],
      };
    },
    render: (out) =>
      [
        `${out.stack} in ${out.project_dir}: ${
          out.changed
            ? `${out.files.filter((f) => f.changed).length} file(s) changed`
            : "nothing changed"
        }${out.pulled.length > 0 ? `; pulled ${out.pulled.join(", ")}` : ""}${
          out.compose ? `; ${out.compose.compose} up ran` : ""
        }`,
        ...out.services.map((s) =>
          `  ${s.service}: ${s.ready ? "ready" : "not ready"} (${
            s.containers.map((c) => `${c.name} ${c.state}${c.health ? ` ${c.health}` : ""}`)
              .join(", ")
          })`
        ),
      ].join("\n"),
  });
}
