/**
 * `reboot_required`: whether a host waits for a reboot after updates —
 * `needs-restarting -r` on dnf hosts, else the `/run/reboot-required` flag
 * file Debian and Ubuntu packages leave.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";

/** The flag file apt hosts leave when an update needs a reboot. */
export const REBOOT_FLAG = "/run/reboot-required";

/** Whether the host needs a reboot. */
export const rebootRequired = defineOperation({
  name: "reboot_required",
  title: "Reboot required",
  description:
    `Whether the host needs a reboot after updates (needs-restarting -r where present, else ${REBOOT_FLAG}), and how it knows.`,
  input: z.strictObject({}),
  output: z.object({ required: z.boolean(), how: z.string() }),
  capability: "system:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["needs-restarting", "cat"],
  plan: (_args, target) => ({
    kind: "exec",
    commands: [["needs-restarting", "-r"], ["cat", "--", REBOOT_FLAG]],
    mode: "first_available",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "coreutils");
    if (cmd.argv[0] === "needs-restarting") {
      // Exit 1: reboot needed; 0: not.
      if (cmd.exitCode === 0 || cmd.exitCode === 1) {
        return { required: cmd.exitCode === 1, how: "needs-restarting -r" };
      }
      throw new OperationError("failed", `needs-restarting failed: ${firstErrorLine(cmd)}`);
    }
    if (cmd.exitCode === 0) return { required: true, how: `${REBOOT_FLAG} exists` };
    if (/No such file/.test(cmd.stderr)) {
      return { required: false, how: `${REBOOT_FLAG} is absent` };
    }
    throw new OperationError("failed", `Cannot read ${REBOOT_FLAG}: ${firstErrorLine(cmd)}`);
  },
  render: (out) => `${out.required ? "Reboot required" : "No reboot required"} (${out.how})`,
});
