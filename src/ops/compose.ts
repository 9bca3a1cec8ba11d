/**
 * Compose file operations on hosts (`local` and `ssh` targets with a compose
 * CLI): `compose_up` and `compose_pull`. They run the compose CLI as argv
 * with `--project-directory` under the target's `files.roots`; stacks on
 * Docker targets are controlled through the API instead (`stack_control`).
 *
 * Which CLI: the `docker compose` plugin (v2) when `docker compose version`
 * succeeds on the host, else a `docker-compose` program (Debian's compose v1,
 * or v2's standalone binary; both take the same flags here). A host with
 * neither gets one sentence saying so.
 *
 * @module
 */
import { z } from "zod";
import type { Target } from "../config/targets_schema.ts";
import type { ExecPlan } from "../exec/plan.ts";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { rootsFor } from "./file.ts";
import {
  execCommands,
  firstErrorLine,
  isProgramMissing,
  throwCommonFailure,
} from "./_host_result.ts";
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
 * The compose CLIs, in the order a host's is chosen: argv prefix, name, and
 * the probe that must succeed for it to be chosen (`null`: the program exists).
 */
export const COMPOSE_CLIS = [
  {
    prefix: ["docker", "compose"],
    name: "docker compose",
    probe: ["docker", "compose", "version"],
  },
  { prefix: ["docker-compose"], name: "docker-compose", probe: null },
] as const;

/** What a host without any compose CLI is told. */
export const NO_COMPOSE =
  "Neither docker-compose (v1) nor the docker compose plugin (v2) is installed on this host";

/**
 * The compose argv for a validated call.
 *
 * @param args Project directory, optional file name, services, optional project name.
 * @param verb The compose subcommand and its flags, e.g. `["up", "--detach"]`.
 * @param prefix The CLI: `["docker", "compose"]` (default) or `["docker-compose"]`.
 * @returns `docker compose --ansi never [--project-name P] --project-directory DIR
 *   [--file DIR/F] VERB... [-- SERVICES...]`.
 */
export function composeArgv(
  args: ComposeArgs & { project?: string },
  verb: readonly string[],
  prefix: readonly string[] = ["docker", "compose"],
): string[] {
  return [
    ...prefix,
    "--ansi",
    "never",
    ...(args.project ? ["--project-name", args.project] : []),
    "--project-directory",
    args.project_dir,
    ...(args.file ? ["--file", `${args.project_dir}/${args.file}`] : []),
    ...verb,
    // v1's `down` refuses a bare "--"; services never start with "-" anyway.
    ...(args.services.length > 0 ? ["--", ...args.services] : []),
  ];
}

/**
 * An exec plan running one compose command with whichever CLI the host has
 * (see {@linkcode COMPOSE_CLIS}).
 *
 * @param name The operation, for the target's sudo policy.
 * @param args Project directory, file, services, project name.
 * @param options `verb`, and the `target` whose limits and sudo apply.
 * @returns The plan.
 */
export function composeExec(
  name: string,
  args: ComposeArgs & { project?: string },
  options: { verb: readonly string[]; target: Target },
): ExecPlan {
  return {
    kind: "exec",
    ...targetLimits(options.target),
    commands: COMPOSE_CLIS.map((cli) => composeArgv(args, options.verb, cli.prefix)),
    probes: COMPOSE_CLIS.map((cli) => cli.probe),
    noneMessage: NO_COMPOSE,
    mode: "first_available",
    sudo: usesSudo(options.target, name),
  };
}

function composePlan(name: string, args: ComposeArgs, target: Target, verb: string[]): ExecPlan {
  rootsFor(args.project_dir, target);
  return composeExec(name, args, { verb, target });
}

const composeOutput = z.object({
  project_dir: z.string(),
  /** The CLI that ran: `docker-compose` or `docker compose`. */
  compose: z.string(),
  output: z.string(),
  truncated: z.boolean(),
});

/**
 * Reads what a compose command produced.
 *
 * @param result The exec result of a `first_available` compose plan.
 * @param args At least the project directory.
 * @param doing What was being done, for the failure sentence ("bring the project up").
 * @returns The output and which CLI ran.
 * @throws {OperationError} `program_missing` when no compose CLI is installed, `compose_failed`.
 */
export function parseCompose(
  result: Parameters<typeof execCommands>[0],
  args: Pick<ComposeArgs, "project_dir">,
  doing: string,
): z.infer<typeof composeOutput> {
  const [cmd] = execCommands(result);
  const plugin = cmd.argv[0] === "docker";
  if (
    isProgramMissing(cmd) ||
    (plugin &&
      /is not a docker command|unknown command: docker compose|unknown flag: --ansi/.test(
        cmd.stderr,
      ))
  ) {
    throw new OperationError("program_missing", NO_COMPOSE);
  }
  throwCommonFailure(cmd, "docker-compose or the docker compose plugin");
  if (cmd.exitCode !== 0) {
    throw new OperationError(
      "compose_failed",
      `Cannot ${doing} in ${args.project_dir}: ${firstErrorLine(cmd)}`,
    );
  }
  return {
    project_dir: args.project_dir,
    compose: plugin ? "docker compose" : "docker-compose",
    output: [cmd.stdout, cmd.stderr].filter(Boolean).join("\n").trim(),
    truncated: cmd.truncated,
  };
}

/** `docker compose up --detach` in a project directory under the allowed roots. */
export const composeUp = defineOperation({
  name: "compose_up",
  title: "Compose up",
  description:
    "Runs `docker compose up --detach` (or docker-compose) for the project in project_dir (absolute, under the file roots): creates or recreates what changed. `file`: a compose file other than the default; `services`: only these.",
  input: composeInput,
  output: composeOutput,
  paramReach: COMPOSE_REACH,
  capability: "stack:control",
  targetTypes: ["local", "ssh"],
  mutates: true,
  streamsOutput: true,
  destructive: true,
  programs: ["docker-compose", "docker"],
  plan: (args, target) => composePlan("compose_up", args, target, ["up", "--detach"]),
  parse: (result, args) => parseCompose(result, args, "bring the project up"),
  render: (out) => out.output || `${out.project_dir}: up`,
});

/** `docker compose pull` in a project directory under the allowed roots. */
export const composePull = defineOperation({
  name: "compose_pull",
  title: "Compose pull",
  description:
    "Runs `docker compose pull --quiet` for the project in project_dir (under the file roots): fetches newer images, restarts nothing. `file`, `services` as for compose_up.",
  input: composeInput,
  output: composeOutput,
  paramReach: COMPOSE_REACH,
  capability: "stack:control",
  targetTypes: ["local", "ssh"],
  mutates: true,
  streamsOutput: true,
  destructive: false,
  programs: ["docker-compose", "docker"],
  plan: (args, target) => composePlan("compose_pull", args, target, ["pull", "--quiet"]),
  parse: (result, args) => parseCompose(result, args, "pull the project's images"),
  render: (out) => out.output || `${out.project_dir}: images pulled`,
});
