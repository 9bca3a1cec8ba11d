/**
 * `stack_down`: compose `down` for a curated stack on a host — stops and
 * removes its containers and default network (named volumes and the files
 * stay). Dry run lists the containers that would go.
 *
 * @module
 */
import { z } from "zod";
import type { Stack } from "../config/stacks_load.ts";
import { composeExec, parseCompose } from "./compose.ts";
import { defineOperation, type Operation } from "./operation.ts";
import {
  containersOf,
  listContainers,
  type Outcome,
  PROJECT_DIR_REACH,
  stackArgs,
  stackDir,
} from "./_stack_host.ts";

/**
 * The `stack_down` operation for the curated stacks.
 *
 * @param stacks The stacks loaded at start (at least one).
 * @returns The operation.
 */
export function stackDown(stacks: readonly Stack[]): Operation {
  const input = z.strictObject(stackArgs(stacks));
  return defineOperation({
    name: "stack_down",
    title: "Take a compose stack down",
    description: "Runs compose down for a curated stack (" +
      stacks.map((s) => s.name).join(", ") + ") in project_dir on the host (default: first " +
      "write root / stack name): stops and removes its containers and default network; named " +
      "volumes and the stack's files stay. Dry run lists the containers that would be removed.",
    input,
    output: z.object({
      stack: z.string(),
      project_dir: z.string(),
      compose: z.string(),
      output: z.string(),
      truncated: z.boolean(),
    }),
    capability: "stack:control",
    targetTypes: ["local", "ssh"],
    mutates: true,
    destructive: true,
    paramReach: PROJECT_DIR_REACH,
    programs: ["docker", "docker-compose"],
    plan: (args, target) =>
      composeExec("stack_down", {
        project_dir: stackDir(args, target),
        project: args.stack,
        services: [],
      }, { verb: ["down", "--remove-orphans"], target }),
    checkPlan: (args, target) => listContainers("stack_down", args.stack, target),
    describeCheck: (outcome: Outcome) => {
      try {
        return { would_remove: containersOf(outcome).map((c) => c.name) };
      } catch (error) {
        return { error: { message: (error as Error).message } };
      }
    },
    parse: (result, args) => {
      // The directory the command ran in (the default one is not known without the target).
      const argv = result.kind === "exec" ? result.commands[0]?.argv ?? [] : [];
      const at = argv.indexOf("--project-directory");
      const dir = at >= 0 ? argv[at + 1] : args.project_dir ?? "";
      return { stack: args.stack, ...parseCompose(result, { project_dir: dir }, "take it down") };
    },
    render: (out) => out.output || `${out.stack}: down`,
  });
}
