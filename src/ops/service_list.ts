/**
 * `service_list`: the systemd services on a host, all or only the failed ones.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, targetLimits } from "./operation.ts";
import { badOutput, execCommands, throwCommonFailure } from "./_host_result.ts";

/** The output of `service_list`. */
export const serviceListOutput = z.object({
  units: z.array(z.object({
    unit: z.string(),
    load: z.string(),
    active: z.string(),
    sub: z.string(),
    description: z.string(),
  })),
  failed: z.int().describe("Units in the failed state"),
});

/** The output of `service_list`. */
export type ServiceList = z.infer<typeof serviceListOutput>;

/**
 * Parses `systemctl list-units --plain --no-legend` lines: UNIT LOAD ACTIVE SUB DESCRIPTION.
 *
 * @param stdout What systemctl printed.
 * @returns The units.
 */
export function parseUnits(stdout: string): ServiceList["units"] {
  return stdout.split("\n").flatMap((line) => {
    // Older systemd marks failed units with a bullet even in plain mode.
    const m = line.replace(/^[●*]\s*/, "").match(/^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/);
    return m ? [{ unit: m[1], load: m[2], active: m[3], sub: m[4], description: m[5] }] : [];
  });
}

/** Services on a host. */
export const serviceList = defineOperation({
  name: "service_list",
  title: "List services",
  description:
    'Lists systemd service units with load, active and sub state and description; `state: "failed"` lists only failed ones. Returns the failed count too.',
  input: z.strictObject({ state: z.enum(["all", "failed"]).default("all") }),
  output: serviceListOutput,
  capability: "system:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["systemctl"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [[
      "systemctl",
      "list-units",
      "--type=service",
      "--all",
      "--no-pager",
      "--no-legend",
      "--plain",
      ...(args.state === "failed" ? ["--state=failed"] : []),
    ]],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "systemd");
    if (cmd.exitCode !== 0) badOutput("systemctl list-units", "exit code 0");
    const units = parseUnits(cmd.stdout);
    return { units, failed: units.filter((u) => u.active === "failed").length };
  },
  render: (out) =>
    [
      `${out.units.length} services, ${out.failed} failed`,
      ...out.units.filter((u) => u.active === "failed").slice(0, 10).map((u) =>
        `failed: ${u.unit}`
      ),
    ].join("\n"),
});
