/**
 * `firewall_status`: the host's packet filter, read only — ufw's summary
 * where ufw manages it, else the nftables ruleset, else iptables rules.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits, usesSudo } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";

/** Rule lines returned at most; `rule_count` counts them all. */
export const MAX_RULES = 300;

/** The output of `firewall_status`. */
export const firewallStatusOutput = z.object({
  tool: z.enum(["ufw", "nft", "iptables"]),
  active: z.boolean().nullable().describe("ufw only: whether it is enabled"),
  policies: z.record(z.string(), z.string()).describe("Default policy per chain (iptables, nft)"),
  rule_count: z.int(),
  rules: z.array(z.string()),
});

/** The output of `firewall_status`. */
export type FirewallStatus = z.infer<typeof firewallStatusOutput>;

/**
 * Parses what the first available firewall tool printed.
 *
 * @param tool Which tool ran.
 * @param stdout Its output.
 * @returns The status.
 */
export function parseFirewall(tool: FirewallStatus["tool"], stdout: string): FirewallStatus {
  const lines = stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const policies: Record<string, string> = {};
  let rules: string[];
  let active: boolean | null = null;
  if (tool === "iptables") {
    for (const m of lines.map((l) => l.match(/^-P (\S+) (\S+)$/))) if (m) policies[m[1]] = m[2];
    rules = lines.filter((l) => l.startsWith("-A "));
  } else if (tool === "nft") {
    let chain: string | undefined;
    rules = [];
    for (const line of lines) {
      const opened = line.match(/^\s*chain (\S+) \{/);
      if (opened) chain = opened[1];
      const policy = line.match(/\bpolicy (\w+);/);
      if (policy && chain) policies[chain] = policy[1];
      // Rules are the lines inside a chain that are not its hook line or a brace.
      else if (chain && !opened && !/^\s*(type |\}|table )/.test(line)) rules.push(line.trim());
      if (/^\s*\}/.test(line)) chain = undefined;
    }
  } else {
    active = lines.some((l) => /^Status: active/.test(l));
    rules = lines.filter((l) => /\b(ALLOW|DENY|REJECT|LIMIT)\b/.test(l));
    for (const m of lines.map((l) => l.match(/^Default: (.*)$/))) if (m) policies.default = m[1];
  }
  return { tool, active, policies, rule_count: rules.length, rules: rules.slice(0, MAX_RULES) };
}

/** The host's firewall rules. */
export const firewallStatus = defineOperation({
  name: "firewall_status",
  title: "Firewall status",
  description:
    "Reads the packet filter: ufw status, else the nftables ruleset, else iptables. Returns the tool, default policies, rule count and rules (first 300). Needs root: sudo if the target's sudo list names it.",
  input: z.strictObject({}),
  output: firewallStatusOutput,
  capability: "network:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["ufw", "nft", "iptables"],
  plan: (_args, target) => ({
    kind: "exec",
    commands: [["ufw", "status", "verbose"], ["nft", "list", "ruleset"], ["iptables", "-S"]],
    mode: "first_available",
    sudo: usesSudo(target, "firewall_status"),
    ...targetLimits(target),
  }),
  parse: (result) => {
    const [cmd] = execCommands(result, 1);
    if (cmd.exitCode === 127) {
      throw new OperationError(
        "program_missing",
        "No firewall tool found: expected ufw, nft or iptables",
      );
    }
    throwCommonFailure(cmd, "ufw, nftables or iptables");
    const tool = cmd.argv[0] as FirewallStatus["tool"];
    if (cmd.exitCode !== 0) {
      if (
        /Permission denied|must be root|need to be root|Operation not permitted/i.test(cmd.stderr)
      ) {
        throw new OperationError(
          "forbidden",
          `${tool} needs root: add firewall_status to the target's sudo list`,
        );
      }
      throw new OperationError("failed", `${tool} failed: ${firstErrorLine(cmd)}`);
    }
    return parseFirewall(tool, cmd.stdout);
  },
  render: (out) => {
    const policies = Object.entries(out.policies).map(([c, p]) => `${c} ${p}`).join(", ");
    return `${out.tool}${
      out.active === null ? "" : out.active ? " active" : " inactive"
    }: ${out.rule_count} rules${policies ? `; policies ${policies}` : ""}`;
  },
});
