/**
 * `package_install`: installs named packages with whichever of apt-get, dnf
 * or apk the host has. Admin tier.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, targetLimits, usesSudo } from "./operation.ts";
import { packageNameSchema } from "./_host_schemas.ts";
import { managerOf, MANAGERS, ranManager } from "./package.ts";
import { APT_OPTIONS, outputTail, throwUpgradeFailure } from "./package_upgrade.ts";

/** Install packages with the host's package manager. */
export const packageInstall = defineOperation({
  name: "package_install",
  title: "Install packages",
  description:
    "Installs the named `packages` with apt-get, dnf or apk, non-interactively, keeping config files (run package_refresh first). Returns the manager and the last 20 output lines.",
  input: z.strictObject({ packages: z.array(packageNameSchema).min(1).max(50) }),
  output: z.object({
    manager: z.enum(MANAGERS),
    packages: z.array(z.string()),
    output_tail: z.array(z.string()),
  }),
  capability: "system:admin",
  targetTypes: ["local", "ssh"],
  mutates: true,
  streamsOutput: true,
  destructive: false,
  programs: ["apt-get", "dnf", "apk"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [
      ["apt-get", ...APT_OPTIONS, "install", "--", ...args.packages],
      ["dnf", "-y", "install", "--", ...args.packages],
      ["apk", "add", "--no-interactive", "--", ...args.packages],
    ],
    mode: "first_available",
    sudo: usesSudo(target, "package_install"),
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const cmd = ranManager(result);
    const manager = managerOf(cmd);
    if (cmd.exitCode !== 0) throwUpgradeFailure(cmd, manager);
    return { manager, packages: [...args.packages], output_tail: outputTail(cmd.stdout, 20) };
  },
  render: (out) => `${out.manager} installed ${out.packages.join(", ")}`,
});
