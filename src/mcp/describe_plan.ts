/**
 * What dry run shows: a plan as a person reads it — the exact remote command
 * lines for programs, the exact request for Docker and HTTP targets.
 *
 * @module
 */
import type { Target } from "../config/targets_schema.ts";
import { type Plan, sudoFor } from "../exec/plan.ts";
import { quoteArgv } from "../exec/quote.ts";
import { describeProxmoxPlan } from "./_describe_proxmox.ts";
import { commandLine, firstAvailableScript } from "../exec/ssh_command_line.ts";

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
      const common = { kind: "exec", mode: plan.mode, argv: plan.commands, ...limits };
      if (target.type !== "ssh") {
        // Local programs run directly from argv: no shell is involved.
        return {
          ...common,
          where: "the gateway host (no shell)",
          shown_as: plan.commands.map(quoteArgv),
        };
      }
      const where = `${target.connection.user}@${target.connection.host}:${target.connection.port}`;
      return {
        ...common,
        where,
        remote_command_lines: plan.mode === "first_available"
          ? [firstAvailableScript(plan.commands, plan.sudo)]
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
  }
}
