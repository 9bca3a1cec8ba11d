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
import type { Stack } from "../config/stacks_load.ts";
import type { Target } from "../config/targets_schema.ts";
import { decidePulls, imageInspectArgv, imagesToInspect } from "../exec/image_pull.ts";
import type { ExecPlan, FsWritePlan, SequencePlan } from "../exec/plan.ts";
import {
  COMPOSE_CLIS,
  composeArgv,
  composeExec,
  parseCompose,
  serviceNameSchema,
} from "./compose.ts";
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

const pullDecision = z.object({
  service: z.string(),
  image: z.string().nullable(),
  /** What the engine had: `absent`, `local_only` (no registry digest), `from_registry`. */
  engine: z.enum(["absent", "local_only", "from_registry"]).nullable(),
  pull: z.boolean(),
  reason: z.string(),
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
  /**
   * Per service, whether its image was pulled and why, from what the host's engine has
   * (empty when compose did not run).
   */
  pull_decisions: z.array(pullDecision),
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
  /** The services this call deploys, and their declarations (what decides their pulls). */
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
    const candidates = stack.services.filter((s) => chosen.includes(s.name));
    return { chosen, candidates, images: imagesToInspect(candidates) };
  };
  return defineOperation({
    name: "stack_deploy",
    title: "Deploy a compose stack",
    description: `Deploys a compose stack curated on the gateway (${names.join(", ")}): ` +
      "copies its files to project_dir on the host (default: first write root / stack name), " +
      "each written atomically with a backup; when a file changed (force: always) asks the " +
      "host's engine which images it has and pulls those it lacks or that came from a " +
      "registry (never one built or loaded only there; pull_policy never/build/missing " +
      "honoured), then runs compose up --detach (the docker compose plugin, or " +
      "docker-compose); then waits up to wait_s for every service to run and be healthy, " +
      "and reports each service's state. " +
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
      const { chosen, candidates, images } = servicesOf(args);
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
      // The engine is asked first; the pull step gets the services it decides on appended.
      const pull = images.length === 0 ? [] : [
        { plan: inspectImages(images, target), onlyIfChanged, failureReadLater: true },
        {
          plan: composeExec("stack_deploy", { ...compose, services: [] }, {
            verb: ["pull", "--quiet"],
            target,
          }),
          onlyIfChanged,
          pullFrom: { step: writes.length, candidates },
        },
      ];
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
    checkPlan: (args, target): SequencePlan => {
      const { images } = servicesOf(args);
      return {
        kind: "sequence",
        ...targetLimits(target),
        continueOnFailure: true,
        steps: [
          ...readStackFiles(deployedFiles(stackNamed(stacks, args.stack), args.variables), target, {
            dir: stackDir(args, target),
            sudoAs: "stack_deploy",
          }),
          ...(images.length > 0 ? [{ plan: inspectImages(images, target) }] : []),
        ],
      };
    },
    describeCheck: (outcome: Outcome, args, target) => {
      if (!outcome.ok || outcome.result.kind !== "sequence") {
        return { error: outcome.ok ? { code: "bad_output", message: "No result" } : outcome.error };
      }
      const stack = stackNamed(stacks, args.stack);
      const files = describeStackFiles(
        deployedFiles(stack, args.variables),
        outcome.result.steps,
      );
      const changed = files.some((f) => f.would_change !== false);
      const { candidates, images } = servicesOf(args);
      const inspected = outcome.result.steps[stack.files.length];
      const decisions = decidePulls(
        candidates,
        images.length > 0 && inspected && "ok" in inspected ? inspected : undefined,
      );
      const runs = changed || args.force;
      const pulled = Array.isArray(decisions) && runs
        ? decisions.filter((d) => d.pull).map((d) => d.service)
        : [];
      return {
        files,
        would_run_compose: runs,
        would_pull: pulled,
        pull_decisions: Array.isArray(decisions) ? decisions : { error: decisions },
        // The pull step's exact commands, the services decided on appended (one CLI is chosen).
        ...(pulled.length > 0 && target
          ? {
            pull_commands: COMPOSE_CLIS.map((cli) =>
              composeArgv(
                { project_dir: stackDir(args, target), project: stack.name, services: pulled },
                ["pull", "--quiet"],
                cli.prefix,
              )
            ),
          }
          : {}),
        warnings: stack.warnings,
      };
    },
    parse: (result, args) => {
      if (result.kind !== "sequence") {
        throw new OperationError("bad_output", `Expected a sequence result, found ${result.kind}`);
      }
      const stack = stackNamed(stacks, args.stack);
      const { chosen, candidates, images } = servicesOf(args);
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
      const inspected = images.length > 0 ? result.steps[next++] : undefined;
      const decisions = inspected && "ok" in inspected ? decidePulls(candidates, inspected) : [];
      const pulledRun = images.length > 0 ? composeStep("pull the stack's images") : null;
      const pullDecisions = Array.isArray(decisions) ? decisions : [];
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
        pulled: pulledRun ? pullDecisions.filter((d) => d.pull).map((d) => d.service) : [],
        pull_decisions: pullDecisions,
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

/**
 * One exec inspecting each image on the host's engine (one round trip over SSH).
 *
 * @param images Plain image references.
 * @param target The target, for its limits and sudo policy.
 * @returns The plan.
 */
function inspectImages(images: readonly string[], target: Target): ExecPlan {
  return {
    kind: "exec",
    ...targetLimits(target),
    commands: images.map(imageInspectArgv),
    mode: "all",
    sudo: usesSudo(target, "stack_deploy"),
  };
}
