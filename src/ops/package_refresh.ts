/**
 * `package_refresh`: updates the package index (apt-get update, dnf
 * makecache, apk update) so that `package_updates` and `package_upgrade` see
 * current versions.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, targetLimits, usesSudo } from "./operation.ts";
import { managerOf, MANAGERS, ranManager } from "./package.ts";
import { outputTail, throwUpgradeFailure } from "./package_upgrade.ts";

/** What the refresh did. */
export const packageRefreshOutput = z.object({
  manager: z.enum(MANAGERS),
  output_tail: z.array(z.string()),
});

/** Refresh the package index with the host's package manager. */
export const packageRefresh = defineOperation({
  name: "package_refresh",
  title: "Refresh package index",
  description:
    "Updates the package index (apt-get update, dnf makecache or apk update) so package_updates and package_upgrade see current versions. Installs nothing. Returns the manager and the last 10 output lines.",
  input: z.strictObject({}),
  output: packageRefreshOutput,
  capability: "system:admin",
  targetTypes: ["local", "ssh"],
  mutates: true,
  streamsOutput: true,
  destructive: false,
  programs: ["apt-get", "dnf", "apk"],
  plan: (_args, target) => ({
    kind: "exec",
    commands: [["apt-get", "-q", "update"], ["dnf", "-y", "-q", "makecache"], ["apk", "update"]],
    mode: "first_available",
    sudo: usesSudo(target, "package_refresh"),
    ...targetLimits(target),
  }),
  parse: (result) => {
    const cmd = ranManager(result);
    const manager = managerOf(cmd);
    if (cmd.exitCode !== 0) throwUpgradeFailure(cmd, manager);
    return { manager, output_tail: outputTail(cmd.stdout, 10) };
  },
  render: (out) => `${out.manager} refreshed its package index`,
});
