/**
 * Observing containers on Docker targets: `container_list`,
 * `container_inspect` (secrets in env, labels and argv redacted, see
 * `_docker_secrets.ts`) and
 * `container_logs` (stdout/stderr demultiplexed, capped).
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError } from "./operation.ts";
import {
  containerPath,
  containerRefSchema,
  containerSummarySchema,
  dockerAnswer,
  dockerPlan,
  isoTime,
  labelFilterSchema,
  parseBody,
} from "./_docker_schemas.ts";
import { redactArgv, redactEnv, redactLabels } from "./_docker_secrets.ts";

export { redactEnv };

const containerSummary = z.object({
  id: z.string(),
  name: z.string(),
  image: z.string(),
  state: z.string(),
  status: z.string(),
  created: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
});

/** Containers on one engine. */
export const containerList = defineOperation({
  name: "container_list",
  title: "List containers",
  description:
    'Containers on a Docker engine: short id, name, image, state, status text, created, labels (secret-looking values redacted). Running ones unless `all`. `labels` filters by "key" or "key=value" (all must match).',
  input: z.strictObject({
    all: z.boolean().default(false),
    labels: z.array(labelFilterSchema).max(16).default([]),
  }),
  output: z.object({ containers: z.array(containerSummary) }),
  paramReach: { labels: { absent: "every container, whatever its labels" } },
  capability: "container:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "GET",
      path: "/containers/json",
      query: {
        ...(args.all ? { all: "1" } : {}),
        ...(args.labels.length > 0 ? { filters: JSON.stringify({ label: args.labels }) } : {}),
      },
      response: "json",
    }),
  parse: (result) => {
    const answer = dockerAnswer(result, { ok: [200], doing: "list containers" });
    const items = parseBody(z.array(containerSummarySchema), answer.body, "container list");
    return {
      containers: items.map((c) => ({
        id: c.Id.slice(0, 12),
        name: (c.Names[0] ?? "").replace(/^\//, ""),
        image: c.Image,
        state: c.State,
        status: c.Status,
        created: isoTime(c.Created),
        labels: redactLabels(c.Labels ?? {}),
      })),
    };
  },
  render: (out) =>
    out.containers.length === 0
      ? "No containers"
      : out.containers.map((c) => `${c.id}  ${c.name}  ${c.image}  ${c.status || c.state}`)
        .join("\n"),
});

const inspectSchema = z.object({
  Id: z.string(),
  Name: z.string().default(""),
  Created: z.string().optional(),
  RestartCount: z.number().default(0),
  State: z.object({
    Status: z.string(),
    Running: z.boolean().default(false),
    Paused: z.boolean().default(false),
    ExitCode: z.number().default(0),
    StartedAt: z.string().optional(),
    FinishedAt: z.string().optional(),
    Health: z.object({ Status: z.string() }).nullable().optional(),
  }),
  Config: z.object({
    Image: z.string().default(""),
    Env: z.array(z.string()).nullable().default([]),
    Cmd: z.array(z.string()).nullable().default(null),
    Entrypoint: z.array(z.string()).nullable().default(null),
    Labels: z.record(z.string(), z.string()).nullable().default({}),
    Tty: z.boolean().default(false),
    User: z.string().default(""),
    WorkingDir: z.string().default(""),
  }),
  HostConfig: z.object({ RestartPolicy: z.object({ Name: z.string() }).optional() }).optional(),
  Mounts: z.array(z.object({
    Type: z.string().default(""),
    Source: z.string().default(""),
    Destination: z.string(),
    RW: z.boolean().default(true),
  })).nullable().default([]),
  NetworkSettings: z.object({
    Networks: z.record(z.string(), z.unknown()).nullable().default({}),
  }).optional(),
});

const inspectOutput = z.object({
  id: z.string(),
  name: z.string(),
  image: z.string(),
  created: z.string().nullable(),
  state: z.object({
    status: z.string(),
    running: z.boolean(),
    paused: z.boolean(),
    exit_code: z.number(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    health: z.string().nullable(),
    restart_count: z.number(),
  }),
  config: z.object({
    env: z.array(z.string()),
    cmd: z.array(z.string()).nullable(),
    entrypoint: z.array(z.string()).nullable(),
    labels: z.record(z.string(), z.string()),
    tty: z.boolean(),
    user: z.string(),
    working_dir: z.string(),
  }),
  restart_policy: z.string().nullable(),
  mounts: z.array(z.object({
    type: z.string(),
    source: z.string(),
    destination: z.string(),
    read_only: z.boolean(),
  })),
  networks: z.array(z.string()),
});

/** One container's configuration and state. */
export const containerInspect = defineOperation({
  name: "container_inspect",
  title: "Inspect a container",
  description:
    "One container's state (status, exit code, health, restarts, start/finish times), config (env, cmd, entrypoint, labels with secret-looking values [REDACTED], user, working dir, tty), restart policy, mounts and networks.",
  input: z.strictObject({ container: containerRefSchema }),
  output: inspectOutput,
  capability: "container:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "GET",
      path: `${containerPath(args.container)}/json`,
      response: "json",
    }),
  parse: (result) => {
    const answer = dockerAnswer(result, { ok: [200], doing: "inspect the container" });
    const c = parseBody(inspectSchema, answer.body, "container details");
    return {
      id: c.Id.slice(0, 12),
      name: c.Name.replace(/^\//, ""),
      image: c.Config.Image,
      created: isoTime(c.Created),
      state: {
        status: c.State.Status,
        running: c.State.Running,
        paused: c.State.Paused,
        exit_code: c.State.ExitCode,
        started_at: isoTime(c.State.StartedAt),
        finished_at: isoTime(c.State.FinishedAt),
        health: c.State.Health?.Status ?? null,
        restart_count: c.RestartCount,
      },
      config: {
        env: redactEnv(c.Config.Env ?? []),
        cmd: redactArgv(c.Config.Cmd),
        entrypoint: redactArgv(c.Config.Entrypoint),
        labels: redactLabels(c.Config.Labels ?? {}),
        tty: c.Config.Tty,
        user: c.Config.User,
        working_dir: c.Config.WorkingDir,
      },
      restart_policy: c.HostConfig?.RestartPolicy?.Name || null,
      mounts: (c.Mounts ?? []).map((m) => ({
        type: m.Type,
        source: m.Source,
        destination: m.Destination,
        read_only: !m.RW,
      })),
      networks: Object.keys(c.NetworkSettings?.Networks ?? {}),
    };
  },
  render: (c) =>
    `${c.name} (${c.id}) ${c.image}: ${c.state.status}` +
    (c.state.health ? `, ${c.state.health}` : "") +
    (c.state.running ? "" : `, exit code ${c.state.exit_code}`),
});

/** Absolute start times for logs: ISO 8601 UTC, or Unix seconds. Plans cannot read the clock. */
export const logsSinceSchema = z.union([
  z.iso.datetime({ offset: false }),
  z.int().min(0).max(4_102_444_800),
], {
  error: 'Invalid since: expected an ISO date-time such as "2024-05-01T12:00:00Z" or Unix seconds',
});

/** A container's recent output. */
export const containerLogs = defineOperation({
  name: "container_logs",
  title: "Container logs",
  description:
    "The last `tail` lines (default 100) of a container's stdout and stderr, separately (a TTY container has stdout only), optionally `since` an ISO time (UTC) or Unix seconds. Output over the target's cap is cut and marked truncated.",
  input: z.strictObject({
    container: containerRefSchema,
    tail: z.int().min(1).max(10_000).default(100),
    since: logsSinceSchema.optional(),
    timestamps: z.boolean().default(false),
  }),
  output: z.object({ stdout: z.string(), stderr: z.string(), truncated: z.boolean() }),
  paramReach: { since: { absent: "the container's whole log (up to tail lines)" } },
  capability: "container:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "GET",
      path: `${containerPath(args.container)}/logs`,
      query: {
        stdout: "1",
        stderr: "1",
        tail: String(args.tail),
        ...(args.since === undefined ? {} : {
          since: String(
            typeof args.since === "number" ? args.since : Math.floor(Date.parse(args.since) / 1000),
          ),
        }),
        ...(args.timestamps ? { timestamps: "1" } : {}),
      },
      response: "logs",
      requireContainer: args.container,
    }),
  parse: (result) => {
    const answer = dockerAnswer(result, { ok: [200], doing: "read the container's logs" });
    if (answer.stdout === undefined) {
      throw new OperationError("bad_output", "Expected log streams, found none");
    }
    return { stdout: answer.stdout, stderr: answer.stderr ?? "", truncated: answer.truncated };
  },
  render: (out) =>
    [
      out.stdout,
      out.stderr ? `--- stderr ---\n${out.stderr}` : "",
      out.truncated ? "[truncated]" : "",
    ]
      .filter(Boolean).join("\n"),
});
