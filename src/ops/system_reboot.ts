/**
 * `system_reboot`: schedules a reboot with `shutdown -r +MINUTES`, so that
 * a delay always separates the call from the reboot (and `shutdown -c`
 * on the host can still cancel it). Admin tier, destructive.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";

/** Reboot a host after a delay. */
export const systemReboot = defineOperation({
  name: "system_reboot",
  title: "Reboot",
  description:
    "Schedules a reboot of the host in `delay_minutes` (1-1440, default 1) with shutdown -r; cancel on the host with shutdown -c. Dry-run first; usually needs approval.",
  input: z.strictObject({ delay_minutes: z.int().min(1).max(1440).default(1) }),
  output: z.object({ scheduled: z.boolean(), delay_minutes: z.int(), message: z.string() }),
  capability: "system:admin",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: true,
  programs: ["shutdown"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [["shutdown", "-r", `+${args.delay_minutes}`]],
    mode: "all",
    sudo: usesSudo(target, "system_reboot"),
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "systemd-sysv");
    if (cmd.exitCode !== 0) {
      if (
        /Permission denied|must be root|Access denied|Interactive authentication/i.test(cmd.stderr)
      ) {
        throw new OperationError(
          "forbidden",
          "shutdown needs root: add system_reboot to the target's sudo list",
        );
      }
      throw new OperationError("failed", `shutdown failed: ${firstErrorLine(cmd)}`);
    }
    const message = `${cmd.stdout}\n${cmd.stderr}`.trim().split("\n")[0] ?? "";
    return { scheduled: true, delay_minutes: args.delay_minutes, message };
  },
  render: (out) =>
    `Reboot scheduled in ${out.delay_minutes} min${out.message ? `: ${out.message}` : ""}`,
});
