/**
 * What dry run shows: a plan as a person reads it — the exact remote command
 * lines for programs, the exact request for Docker and HTTP targets.
 *
 * @module
 */
import type { Target } from "../config/targets_schema.ts";
import { type Plan, signalArgv, sudoFor } from "../exec/plan.ts";
import { quoteArgv } from "../exec/quote.ts";
import { describeProxmoxPlan } from "./_describe_proxmox.ts";
import {
  commandLine,
  firstAvailableScript,
  runsAsOneScript,
  sequenceScript,
  SHOWN_BOUNDARY,
} from "../exec/ssh_command_line.ts";

/**
 * Describes a plan for dry run. Contains no secrets: credentials are added
 * by executors, never by plans.
 *
 * @param plan The plan.
 * @param target The target it would run on.
 * @returns A plain object for the client.
 */
export function describePlan(plan: Plan, target: Target): Record<string, unknown> {
  const limits = { timeout_ms: plan.timeoutMs, output_cap_bytes: plan.outputCapBytes };
  switch (plan.kind) {
    case "exec": {
      const common = {
        kind: "exec",
        mode: plan.mode,
        argv: plan.commands,
        ...(plan.probes ? { chosen_when_these_succeed: plan.probes } : {}),
        ...limits,
      };
      if (target.type !== "ssh") {
        // Local programs run directly from argv: no shell is involved.
        return {
          ...common,
          where: "the gateway host (no shell)",
          shown_as: plan.commands.map(quoteArgv),
        };
      }
      const where = `${target.connection.user}@${target.connection.host}:${target.connection.port}`;
      if (runsAsOneScript(plan)) {
        // What runs is one exec of the sequence script; its boundary is drawn per call.
        return {
          ...common,
          where,
          runs_as:
            `one exec of remote_command_lines[0], all commands in order; ${SHOWN_BOUNDARY} ` +
            "stands for a random 128-bit hex token drawn for each call",
          remote_command_lines: [sequenceScript(plan, SHOWN_BOUNDARY)],
          commands_in_script: plan.commands.map((argv, index) =>
            commandLine(argv, sudoFor(plan, index))
          ),
        };
      }
      return {
        ...common,
        where,
        remote_command_lines: plan.mode === "first_available"
          ? [firstAvailableScript(plan.commands, plan.sudo, plan.probes)]
          : plan.commands.map((argv, index) => commandLine(argv, sudoFor(plan, index))),
      };
    }
    case "fs_read":
      return {
        kind: "read_file",
        path: plan.path,
        offset: plan.offset,
        roots: plan.roots,
        ...limits,
      };
    case "sequence":
      return {
        kind: "sequence",
        steps: plan.steps.map((step) => ({
          ...describePlan(step.plan, target),
          ...(step.onlyIfChanged ? { only_if_a_file_changed: true } : {}),
          ...(step.pullFrom
            ? {
              services_appended: `"--" and the services whose images step ${step.pullFrom.step} ` +
                "shows are to be pulled; skipped when none is",
            }
            : {}),
          ...(step.until
            ? {
              repeated_until_settled: {
                services: step.until.services,
                every_ms: step.until.everyMs,
                within_ms: step.until.withinMs,
                ...(step.until.onlyIfChanged ? { only_if_a_file_changed: true } : {}),
              },
            }
            : {}),
        })),
      };
    case "fs_write":
      return {
        kind: "write_file",
        path: plan.path,
        bytes: Math.floor(plan.content.length / 4) * 3 -
          (plan.content.endsWith("==") ? 2 : plan.content.endsWith("=") ? 1 : 0),
        sha256: plan.sha256,
        mode: `0${plan.mode.toString(8)}`,
        backup: plan.backup,
        ...(plan.expectedSha256 ? { expected_sha256: plan.expectedSha256 } : {}),
        ...(plan.sudo ? { sudo: "sudo -n -- /bin/sh -c SCRIPT" } : {}),
        roots: plan.roots,
        ...limits,
      };
    case "fs_list":
      return {
        kind: "list_directory",
        path: plan.path,
        max_entries: plan.maxEntries,
        roots: plan.roots,
        ...limits,
      };
    case "docker": {
      const query = plan.query ? `?${new URLSearchParams(plan.query)}` : "";
      return {
        kind: "docker",
        engine: target.type === "docker"
          ? ("socket" in target.connection
            ? `unix://${target.connection.socket}`
            : target.connection.host)
          : target.id,
        request: `${plan.method} ${plan.path}${query}`,
        ...(plan.body === undefined ? {} : { body: plan.body }),
        ...(plan.requireContainer ? { requires_container: plan.requireContainer } : {}),
        ...limits,
      };
    }
    case "http": {
      const base = target.type === "http" ? target.connection.base_url.replace(/\/$/, "") : "";
      const query = plan.query && Object.keys(plan.query).length > 0
        ? `?${new URLSearchParams(plan.query)}`
        : "";
      return {
        kind: "http",
        request: `${plan.method} ${base}${plan.path}${query}`,
        ...(plan.headers ? { headers: plan.headers } : {}),
        ...(plan.body === undefined ? {} : { body: plan.body }),
        note: "Credentials configured for the target are added by the executor and not shown",
        ...limits,
      };
    }
    case "proxmox":
      return describeProxmoxPlan(plan, target);
    case "signal":
      return {
        kind: "signal",
        signal: plan.signal,
        ...(plan.pid !== undefined ? { pid: plan.pid } : { name: plan.name }),
        where: target.type === "ssh"
          ? `${target.connection.user}@${target.connection.host}:${target.connection.port}`
          : "the gateway host (no shell)",
        sends: plan.send,
        argv_per_process: signalArgv(plan, target.type === "ssh", "PID"),
        refuses: target.type === "ssh"
          ? "pid 1, the remote shell that runs the call, its ancestors (the SSH session) and its session"
          : "pid 1, the gateway, its ancestors, its session and its children",
        ...limits,
      };
  }
}
