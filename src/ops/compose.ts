/**
 * Compose file operations on hosts (`local` and `ssh` targets that have the
 * `docker compose` plugin): `compose_up` and `compose_pull`. They run the
 * compose CLI as argv with `--project-directory` under the target's
 * `files.roots`; stacks on Docker targets are controlled through the API
 * instead (`stack_control`).
 *
 * @module
 */
import { z } from "zod";
import type { Target } from "../config/targets_schema.ts";
import type { ExecPlan } from "../exec/plan.ts";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { rootsFor } from "./file.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";
import { hostPathSchema } from "./_host_schemas.ts";

/** A compose service name. */
export const serviceNameSchema = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, {
  error:
    'Invalid service: expected letters, digits, "_", ".", "-", starting with a letter or digit',
});

/** A compose file name inside the project directory. */
export const composeFileSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\.ya?ml$/, {
  error: 'Invalid file: expected a file name ending in ".yaml" or ".yml", such as "compose.yaml"',
});

const composeInput = z.strictObject({
  project_dir: hostPathSchema,
  file: composeFileSchema.optional(),
  services: z.array(serviceNameSchema).max(64).default([]),
});

type ComposeArgs = z.infer<typeof composeInput>;

/** An empty `services` list reaches every service of the project. */
const COMPOSE_REACH = {
  file: { absent: "the project's default compose file" },
  services: { absent: "every service of the project" },
} as const;

/**
 * The compose argv for a validated call.
 *
 * @param args Project directory, optional file name, services.
 * @param verb The compose subcommand and its flags, e.g. `["up", "--detach"]`.
 * @returns `docker compose --ansi never --project-directory DIR [--file DIR/F] VERB... -- SERVICES...`.
 */
export function composeArgv(args: ComposeArgs, verb: readonly string[]): string[] {
  return [
    "docker",
    "compose",
    "--ansi",
    "never",
    "--project-directory",
    args.project_dir,
    ...(args.file ? ["--file", `${args.project_dir}/${args.file}`] : []),
    ...verb,
    "--",
    ...args.services,
  ];
}

function composePlan(name: string, args: ComposeArgs, target: Target, verb: string[]): ExecPlan {
  rootsFor(args.project_dir, target);
  return {
    kind: "exec",
    ...targetLimits(target),
    commands: [composeArgv(args, verb)],
    mode: "all",
    sudo: usesSudo(target, name),
  };
}

const composeOutput = z.object({
  project_dir: z.string(),
  output: z.string(),
  truncated: z.boolean(),
});

function parseCompose(
  result: Parameters<typeof execCommands>[0],
  args: ComposeArgs,
  doing: string,
) {
  const [cmd] = execCommands(result);
  throwCommonFailure(cmd, "docker");
  if (/is not a docker command|unknown command: docker compose/.test(cmd.stderr)) {
    throw new OperationError(
      "program_missing",
      "The docker compose plugin is not installed on this host",
    );
  }
  if (cmd.exitCode !== 0) {
    throw new OperationError(
      "compose_failed",
      `Cannot ${doing} in ${args.project_dir}: ${firstErrorLine(cmd)}`,
    );
  }
  return {
    project_dir: args.project_dir,
    output: [cmd.stdout, cmd.stderr].filter(Boolean).join("\n").trim(),
    truncated: cmd.truncated,
  };
}

/** `docker compose up --detach` in a project directory under the allowed roots. */
export const composeUp = defineOperation({
  name: "compose_up",
  title: "Compose up",
  description: "Runs `docker compose up --detach` for the compose project in project_dir (an " +
    "absolute path under the target's file roots) on a host with the compose plugin: creates " +
    "or recreates what changed. file: the compose file name when not the default. services: " +
    "only these services.",
  input: composeInput,
  output: composeOutput,
  paramReach: COMPOSE_REACH,
  capability: "stack:control",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: true,
  programs: ["docker"],
  plan: (args, target) => composePlan("compose_up", args, target, ["up", "--detach"]),
  parse: (result, args) => parseCompose(result, args, "bring the project up"),
  render: (out) => out.output || `${out.project_dir}: up`,
});

/** `docker compose pull` in a project directory under the allowed roots. */
export const composePull = defineOperation({
  name: "compose_pull",
  title: "Compose pull",
  description: "Runs `docker compose pull --quiet` for the compose project in project_dir (an " +
    "absolute path under the target's file roots): fetches newer images without restarting " +
    "anything. file and services as for compose_up.",
  input: composeInput,
  output: composeOutput,
  paramReach: COMPOSE_REACH,
  capability: "stack:control",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: false,
  programs: ["docker"],
  plan: (args, target) => composePlan("compose_pull", args, target, ["pull", "--quiet"]),
  parse: (result, args) => parseCompose(result, args, "pull the project's images"),
  render: (out) => out.output || `${out.project_dir}: images pulled`,
});
