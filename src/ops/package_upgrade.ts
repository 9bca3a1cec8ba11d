/**
 * `package_upgrade`: upgrades named packages, or all of them, with whichever
 * of apt-get, dnf or apk the host has. Admin tier: it changes the system.
 *
 * @module
 */
import { z } from "zod";
import type { CommandResult } from "../exec/plan.ts";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { firstErrorLine } from "./_host_result.ts";
import { packageNameSchema } from "./_host_schemas.ts";
import { managerOf, MANAGERS, ranManager } from "./package.ts";

/** What the upgrade did. */
export const packageUpgradeOutput = z.object({
  manager: z.enum(MANAGERS),
  requested: z.union([z.array(z.string()), z.literal("all")]),
  summary: z.string().nullable(),
  output_tail: z.array(z.string()),
});

/** The output of `package_upgrade`. */
export type PackageUpgrade = z.infer<typeof packageUpgradeOutput>;

/** apt-get options: no questions, and keep the packaged config file on conflicts (there is no tty). */
export const APT_OPTIONS: readonly string[] = [
  "-y",
  "-q",
  "-o",
  "Dpkg::Options::=--force-confdef",
  "-o",
  "Dpkg::Options::=--force-confold",
];

/**
 * The argv per manager, in `first_available` order.
 *
 * @param packages Validated package names, or `undefined` for all.
 * @returns apt-get, dnf and apk commands; `--` precedes package operands.
 */
export function upgradeCommands(packages: readonly string[] | undefined): string[][] {
  if (packages === undefined) {
    return [
      ["apt-get", ...APT_OPTIONS, "upgrade"],
      ["dnf", "-y", "upgrade"],
      ["apk", "upgrade", "--no-interactive"],
    ];
  }
  return [
    // --only-upgrade: never install a package that is not there yet.
    ["apt-get", ...APT_OPTIONS, "install", "--only-upgrade", "--", ...packages],
    ["dnf", "-y", "upgrade", "--", ...packages],
    ["apk", "upgrade", "--no-interactive", "--", ...packages],
  ];
}

const SUMMARY = [
  /^\d+ upgraded, \d+ newly installed, \d+ to remove and \d+ not upgraded\.$/m, // apt
  /^(?:Nothing to do\.|Complete!)$/m, // dnf
  /^OK: .+ in \d+ packages$/m, // apk
];

/**
 * The last non-empty lines a package manager printed.
 *
 * @param stdout Its output.
 * @param count How many lines.
 * @returns Up to `count` lines, trailing blanks trimmed.
 */
export function outputTail(stdout: string, count: number): string[] {
  return stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "").slice(-count);
}

/**
 * Throws the error a failed package manager run means: unknown package, lock held, not root.
 *
 * @param cmd The manager's command result.
 * @param manager Its name.
 * @throws {OperationError} Always.
 */
export function throwUpgradeFailure(cmd: CommandResult, manager: string): never {
  const err = `${cmd.stderr}\n${cmd.stdout}`;
  if (/Unable to locate package|No match for argument|unable to select packages/.test(err)) {
    throw new OperationError("not_found", `${manager} does not know one of the packages`);
  }
  if (/Could not get lock|held by process|Waiting for process/.test(err)) {
    throw new OperationError("busy", `${manager} is locked by another running package operation`);
  }
  if (/are you root|superuser privileges|Permission denied|password is required/.test(err)) {
    throw new OperationError(
      "forbidden",
      `${manager} needs root: run the gateway's user as root or give it a sudo rule`,
    );
  }
  throw new OperationError("failed", `${manager} failed: ${firstErrorLine(cmd)}`);
}

/** Upgrade packages with the host's package manager. */
export const packageUpgrade = defineOperation({
  name: "package_upgrade",
  title: "Upgrade packages",
  description:
    "Upgrades the installed `packages` named (nothing new is added), or everything with `all: true`, with apt-get, dnf or apk, non-interactively, keeping config files, from cached lists (package_refresh first). Returns the manager, its summary and the last 20 output lines. May restart services.",
  input: z.strictObject({
    packages: z.array(packageNameSchema).min(1).max(100).optional(),
    all: z.literal(true).optional(),
  }).refine((a) => (a.packages === undefined) !== (a.all === undefined), {
    error: "Invalid arguments: expected exactly one of packages or all: true",
  }),
  output: packageUpgradeOutput,
  paramReach: {
    packages: { absent: "every installed package", widenedBy: ["all"] },
    all: { absent: "only the named packages", absentIsNarrowest: true },
  },
  capability: "system:admin",
  targetTypes: ["local", "ssh"],
  mutates: true,
  streamsOutput: true,
  destructive: true,
  programs: ["apt-get", "dnf", "apk"],
  plan: (args, target) => ({
    kind: "exec",
    commands: upgradeCommands(args.all ? undefined : args.packages),
    mode: "first_available",
    sudo: usesSudo(target, "package_upgrade"),
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const cmd = ranManager(result);
    const manager = managerOf(cmd);
    if (cmd.exitCode !== 0) throwUpgradeFailure(cmd, manager);
    const summary = SUMMARY.map((re) => cmd.stdout.match(re)?.[0]).find((s) => s) ?? null;
    return {
      manager,
      requested: args.all ? "all" as const : [...(args.packages ?? [])],
      summary,
      output_tail: outputTail(cmd.stdout, 20),
    };
  },
  render: (out) =>
    `${out.manager} upgraded ${
      out.requested === "all" ? "all packages" : out.requested.join(", ")
    }: ${out.summary ?? "done"}`,
});
