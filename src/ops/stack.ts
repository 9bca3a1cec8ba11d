/**
 * Compose stacks on Docker targets, seen through container labels:
 * `stack_list`, `stack_status` and `stack_control` (start, stop or restart
 * every container of a project through the Engine API; no compose CLI).
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError } from "./operation.ts";
import {
  containerSummarySchema,
  dockerAnswer,
  dockerPlan,
  parseBody,
  PROJECT_LABEL,
  projectNameSchema,
  SERVICE_LABEL,
} from "./_docker_schemas.ts";
import { healthOf } from "../exec/compose_ps.ts";

type Item = z.infer<typeof containerSummarySchema>;

function items(result: Parameters<typeof dockerAnswer>[0], doing: string): Item[] {
  const answer = dockerAnswer(result, { ok: [200], doing });
  return parseBody(z.array(containerSummarySchema), answer.body, "container list");
}

/** A container's health from its status text; one home in the compose listing module. */
export { healthOf };

/** Compose projects on the engine. */
export const stackList = defineOperation({
  name: "stack_list",
  title: "List compose stacks",
  description: "Lists compose projects on a Docker engine, found by the " +
    `"${PROJECT_LABEL}" label: project name, services, containers and how many run, and the ` +
    "project's working directory when compose recorded it.",
  input: z.strictObject({}),
  output: z.object({
    stacks: z.array(z.object({
      project: z.string(),
      services: z.array(z.string()),
      containers: z.number(),
      running: z.number(),
      working_dir: z.string().nullable(),
    })),
  }),
  capability: "stack:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (_args, target) =>
    dockerPlan(target, {
      method: "GET",
      path: "/containers/json",
      query: { all: "1", filters: JSON.stringify({ label: [PROJECT_LABEL] }) },
      response: "json",
    }),
  parse: (result) => {
    const byProject = new Map<string, Item[]>();
    for (const item of items(result, "list compose stacks")) {
      const project = item.Labels?.[PROJECT_LABEL];
      if (project) byProject.set(project, [...(byProject.get(project) ?? []), item]);
    }
    const stacks = [...byProject].sort(([a], [b]) => a.localeCompare(b)).map(([project, list]) => ({
      project,
      services: [
        ...new Set(list.map((c) => c.Labels?.[SERVICE_LABEL]).filter((s) => s !== undefined)),
      ]
        .sort(),
      containers: list.length,
      running: list.filter((c) => c.State === "running").length,
      working_dir: list[0].Labels?.["com.docker.compose.project.working_dir"] ?? null,
    }));
    return { stacks };
  },
  render: (out) =>
    out.stacks.length === 0
      ? "No compose stacks"
      : out.stacks.map((s) =>
        `${s.project}: ${s.running}/${s.containers} running (${s.services.join(", ")})`
      )
        .join("\n"),
});

const containerState = z.object({
  name: z.string(),
  id: z.string(),
  state: z.string(),
  status: z.string(),
  health: z.string().nullable(),
});

/** One project's services and their containers' states. */
export const stackStatus = defineOperation({
  name: "stack_status",
  title: "Compose stack status",
  description:
    "One compose project's services, with each container's state, status and health (null without a health check), and whether all run and none is unhealthy. not_found when no container has the project's label.",
  input: z.strictObject({ project: projectNameSchema }),
  output: z.object({
    project: z.string(),
    healthy: z.boolean(),
    services: z.array(z.object({ service: z.string(), containers: z.array(containerState) })),
  }),
  capability: "stack:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "GET",
      path: "/containers/json",
      query: { all: "1", filters: JSON.stringify({ label: [`${PROJECT_LABEL}=${args.project}`] }) },
      response: "json",
    }),
  parse: (result, args) => {
    const list = items(result, `read stack "${args.project}"`);
    if (list.length === 0) {
      throw new OperationError(
        "not_found",
        `No compose project "${args.project}" exists on this engine`,
      );
    }
    const services = new Map<string, z.infer<typeof containerState>[]>();
    for (const c of list) {
      const service = c.Labels?.[SERVICE_LABEL] ?? "(none)";
      const state = {
        name: (c.Names[0] ?? "").replace(/^\//, ""),
        id: c.Id.slice(0, 12),
        state: c.State,
        status: c.Status,
        health: healthOf(c.Status),
      };
      services.set(service, [...(services.get(service) ?? []), state]);
    }
    const all = [...services.values()].flat();
    return {
      project: args.project,
      healthy: all.every((c) => c.state === "running" && c.health !== "unhealthy"),
      services: [...services].sort(([a], [b]) => a.localeCompare(b))
        .map(([service, containers]) => ({ service, containers })),
    };
  },
  render: (out) =>
    [
      `${out.project}: ${out.healthy ? "healthy" : "not healthy"}`,
      ...out.services.flatMap((s) =>
        s.containers.map((c) =>
          `  ${s.service}  ${c.name}  ${c.state}${c.health ? ` (${c.health})` : ""}`
        )
      ),
    ].join("\n"),
});

/** What `stack_control` can do to every container of a project. */
export const STACK_ACTIONS = ["start", "stop", "restart"] as const;

const eachSchema = z.array(z.object({
  id: z.string(),
  name: z.string(),
  status: z.number(),
  message: z.string().nullable(),
}));

/** Start, stop or restart every container of one compose project. */
export const stackControl = defineOperation({
  name: "stack_control",
  title: "Start, stop or restart a compose stack",
  description:
    "Starts, stops or restarts every container of one compose project through the Engine API (no compose file; nothing recreated). timeout_s: seconds before SIGKILL. not_found when no container has the project's label.",
  input: z.strictObject({
    project: projectNameSchema,
    action: z.enum(STACK_ACTIONS),
    timeout_s: z.int().min(0).max(600).optional(),
  }),
  output: z.object({
    project: z.string(),
    action: z.enum(STACK_ACTIONS),
    containers: z.array(
      z.object({ name: z.string(), changed: z.boolean(), error: z.string().nullable() }),
    ),
  }),
  paramReach: {
    timeout_s: {
      absent: "the container's own stop timeout (10 s unless the container sets another)",
    },
  },
  capability: "stack:control",
  targetTypes: ["docker"],
  mutates: true,
  destructive: true,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "POST",
      path: `/containers/{id}/${args.action}`,
      query: args.timeout_s !== undefined && args.action !== "start"
        ? { t: String(args.timeout_s) }
        : {},
      response: "none",
      forEach: { filters: { label: [`${PROJECT_LABEL}=${args.project}`] } },
    }),
  parse: (result, args) => {
    const answer = dockerAnswer(result, {
      ok: [200],
      doing: `${args.action} stack "${args.project}"`,
    });
    const each = parseBody(eachSchema, answer.body, "per-container report");
    if (each.length === 0) {
      throw new OperationError(
        "not_found",
        `No compose project "${args.project}" exists on this engine; nothing was changed`,
      );
    }
    return {
      project: args.project,
      action: args.action,
      containers: each.map((c) => ({
        name: c.name,
        changed: c.status === 204,
        error: c.status >= 400 ? (c.message || `the engine answered ${c.status}`) : null,
      })),
    };
  },
  render: (out) =>
    [
      `${out.project}: ${out.action}`,
      ...out.containers.map((c) =>
        `  ${c.name}: ${c.error ? `failed (${c.error})` : c.changed ? "done" : "unchanged"}`
      ),
    ].join("\n"),
});
