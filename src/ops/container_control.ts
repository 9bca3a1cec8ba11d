/**
 * Changing containers: `container_control` (start, stop, restart, pause,
 * unpause) and `container_remove` (stopped containers only). Both name a
 * container that must exist on the engine: the executor inspects it first
 * and refuses with `not_found` before any mutating request.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation } from "./operation.ts";
import { containerPath, containerRefSchema, dockerAnswer, dockerPlan } from "./_docker_schemas.ts";

/** What `container_control` can do. */
export const CONTAINER_ACTIONS = ["start", "stop", "restart", "pause", "unpause"] as const;

const PAST: Record<typeof CONTAINER_ACTIONS[number], string> = {
  start: "started",
  stop: "stopped",
  restart: "restarted",
  pause: "paused",
  unpause: "unpaused",
};

const ALREADY: Partial<Record<typeof CONTAINER_ACTIONS[number], string>> = {
  start: "was already running",
  stop: "was already stopped",
};

/** Start, stop, restart, pause or unpause one container. */
export const containerControl = defineOperation({
  name: "container_control",
  title: "Start, stop, restart, pause or unpause a container",
  description:
    "Starts, stops, restarts, pauses or unpauses one container. timeout_s (stop, restart): seconds after SIGTERM before SIGKILL. Already in that state: changed: false. Errors: not_found (nothing sent), conflict (the engine refused).",
  input: z.strictObject({
    container: containerRefSchema,
    action: z.enum(CONTAINER_ACTIONS),
    timeout_s: z.int().min(0).max(600).optional(),
  }),
  output: z.object({
    container: z.string(),
    action: z.enum(CONTAINER_ACTIONS),
    changed: z.boolean(),
    message: z.string(),
  }),
  paramReach: {
    timeout_s: {
      absent: "the container's own stop timeout (10 s unless the container sets another)",
    },
  },
  capability: "container:control",
  targetTypes: ["docker"],
  mutates: true,
  destructive: true,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "POST",
      path: `${containerPath(args.container)}/${args.action}`,
      query: args.timeout_s !== undefined && (args.action === "stop" || args.action === "restart")
        ? { t: String(args.timeout_s) }
        : {},
      response: "none",
      requireContainer: args.container,
    }),
  parse: (result, args) => {
    const answer = dockerAnswer(result, {
      ok: [204, 304],
      doing: `${args.action} container "${args.container}"`,
    });
    const changed = answer.status === 204;
    return {
      container: args.container,
      action: args.action,
      changed,
      message: changed
        ? `Container "${args.container}" ${PAST[args.action]}`
        : `Container "${args.container}" ${ALREADY[args.action] ?? "was unchanged"}`,
    };
  },
  render: (out) => out.message,
});

/** Remove one stopped container. */
export const containerRemove = defineOperation({
  name: "container_remove",
  title: "Remove a stopped container",
  description: "Removes one stopped container (never forced; its anonymous volumes are kept). " +
    'A running or paused container is refused with "conflict": stop it first. Fails with ' +
    '"not_found" when the container does not exist.',
  input: z.strictObject({ container: containerRefSchema }),
  output: z.object({ container: z.string(), removed: z.boolean() }),
  capability: "container:admin",
  targetTypes: ["docker"],
  mutates: true,
  destructive: true,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "DELETE",
      path: containerPath(args.container),
      query: { force: "false", v: "false" },
      response: "none",
      requireContainer: args.container,
    }),
  parse: (result, args) => {
    dockerAnswer(result, { ok: [204], doing: `remove container "${args.container}"` });
    return { container: args.container, removed: true };
  },
  render: (out) => `Container "${out.container}" removed`,
});
