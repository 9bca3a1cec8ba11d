/**
 * Packages: `package_updates` lists pending updates and `package_upgrade`
 * installs them, with whichever of apt, dnf or apk the host has.
 *
 * @module
 */
import { z } from "zod";
import type { CommandResult } from "../exec/plan.ts";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { badOutput, execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";

/** Package managers, in the order a plan tries them. */
export const MANAGERS = ["apt", "dnf", "apk"] as const;

/** A package manager name. */
export type Manager = typeof MANAGERS[number];

const updateSchema = z.object({
  name: z.string(),
  current: z.string().nullable(),
  available: z.string(),
});

/** Pending updates on one host. */
export const packageUpdatesOutput = z.object({
  manager: z.enum(MANAGERS),
  updates: z.array(updateSchema),
});

/** The output of `package_updates`. */
export type PackageUpdates = z.infer<typeof packageUpdatesOutput>;
type Update = PackageUpdates["updates"][number];

/**
 * The manager a command result came from (`apt-get` counts as apt).
 *
 * @param cmd A command result.
 * @returns The manager.
 * @throws {OperationError} `bad_output` for any other program.
 */
export function managerOf(cmd: CommandResult): Manager {
  const program = cmd.argv[0] === "apt-get" ? "apt" : cmd.argv[0];
  const found = MANAGERS.find((m) => m === program);
  if (!found) badOutput(program ?? "?", "the output of apt, dnf or apk");
  return found;
}

/**
 * The single command a `first_available` plan ran, or `program_missing`.
 *
 * @param result What the executor returned.
 * @returns The command that ran.
 * @throws {OperationError} `program_missing` when no manager exists on the host.
 */
export function ranManager(result: Parameters<typeof execCommands>[0]): CommandResult {
  const commands = execCommands(result, 0);
  if (commands.length === 0 || commands[0].exitCode === 127) {
    throw new OperationError(
      "program_missing",
      "No supported package manager was found on this host: expected apt, dnf or apk",
    );
  }
  throwCommonFailure(commands[0], "apt, dnf or apk");
  return commands[0];
}

// apt: "bash/stable-security 5.2.15-2+b13 amd64 [upgradable from: 5.2.15-2+b8]"
const APT = /^([^/\s]+)\/\S+ (\S+) \S+ \[upgradable from: ([^\]]+)\]/;
// dnf: "kernel-core.x86_64   5.14.0-427.el9   baseos" (name.arch version repo)
const DNF = /^(\S+)\.[A-Za-z0-9_]+\s+(\S+)\s+\S+$/;
// apk: "busybox-1.36.1-r7 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r5]"
const APK = /^(\S+) \S+ \{[^}]*\} \([^)]*\) \[upgradable from: (\S+)\]/;
const APK_NAME = /^(.+)-(\d[^-]*-r\d+)$/;

function parseDnf(stdout: string): Update[] {
  // dnf wraps a long name onto its own line; join it with the next before matching.
  const lines: string[] = [];
  for (const line of stdout.split("\n")) {
    const prev = lines[lines.length - 1];
    if (prev !== undefined && /^\S+$/.test(prev) && /^\s+\S/.test(line)) {
      lines[lines.length - 1] = `${prev} ${line.trim()}`;
    } else lines.push(line.trimEnd());
  }
  const updates: Update[] = [];
  for (const line of lines) {
    // The "Obsoleting Packages" section repeats names as "new.arch ver repo\n    old.arch ...".
    if (/^Obsoleting/.test(line)) break;
    const m = line.match(DNF);
    if (m) updates.push({ name: m[1], current: null, available: m[2] });
  }
  return updates;
}

/**
 * Parses one manager's list of upgradable packages.
 *
 * @param manager The manager that printed it.
 * @param stdout Its output.
 * @returns The updates; `current` is `null` where the manager does not say (dnf).
 */
export function parseUpdates(manager: Manager, stdout: string): Update[] {
  if (manager === "dnf") return parseDnf(stdout);
  return stdout.split("\n").flatMap((line): Update[] => {
    if (manager === "apt") {
      const m = line.match(APT);
      return m ? [{ name: m[1], current: m[3], available: m[2] }] : [];
    }
    const m = line.match(APK);
    const now = m?.[1].match(APK_NAME);
    const old = m?.[2].match(APK_NAME);
    return now ? [{ name: now[1], current: old?.[2] ?? null, available: now[2] }] : [];
  });
}

/** Pending package updates. */
export const packageUpdates = defineOperation({
  name: "package_updates",
  title: "Pending package updates",
  description:
    "The package manager (apt, dnf or apk) and the packages with updates pending: name, installed version (null for dnf), available version. apt and apk read their cached lists (package_refresh updates them).",
  input: z.strictObject({}),
  output: packageUpdatesOutput,
  capability: "system:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["apt", "dnf", "apk"],
  plan: (_args, target) => ({
    kind: "exec",
    commands: [
      ["apt", "list", "--upgradable"],
      ["dnf", "-q", "check-update"],
      ["apk", "list", "--upgradable"],
    ],
    mode: "first_available",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result) => {
    const cmd = ranManager(result);
    const manager = managerOf(cmd);
    // dnf check-update exits 100 when updates exist, 0 when none.
    const ok = cmd.exitCode === 0 || (manager === "dnf" && cmd.exitCode === 100);
    if (!ok) {
      throw new OperationError(
        "failed",
        `${manager} could not list updates: ${firstErrorLine(cmd)}`,
      );
    }
    return { manager, updates: parseUpdates(manager, cmd.stdout) };
  },
  render: (out) => {
    const names = out.updates.slice(0, 10).map((u) => `${u.name} ${u.available}`);
    const more = out.updates.length > 10 ? `, … ${out.updates.length - 10} more` : "";
    return `${out.updates.length} updates pending (${out.manager})${
      names.length ? `: ${names.join(", ")}${more}` : ""
    }`;
  },
});
