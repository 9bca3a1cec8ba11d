/**
 * The policy as it applies to one caller, in words: for each rule that
 * could matter to them, what it does, to which of their operations on which
 * of their targets, under which limits, windows and approval terms. Built
 * from the caller's own scopes only: rules about operations or targets the
 * caller could never reach are left out, and nothing names another identity
 * (free-text rule descriptions are left out for that reason too).
 *
 * @module
 */
import type { ParamConstraint, PolicyFile, Rule } from "../config/policy_schema.ts";
import type { Lockout, Window } from "../config/window_schema.ts";
import { TIERS } from "../config/capabilities.ts";
import {
  admitsBeforePolicy,
  type CompiledPolicy,
  type GateTarget,
  type Identity,
} from "../gate/mod.ts";
import { DEFAULT_WINDOW_TIERS, type OperationFacts } from "../gate/policy.ts";
import { DEFAULT_RATE_LIMITS } from "../gate/rate_limit.ts";

/** Names listed per rule before "and N more". */
const MAX_NAMES = 40;

/** What the description is built from. */
export interface PolicySources {
  /** The policy file as loaded (rules in file order, rate limits). */
  readonly file: PolicyFile;
  /** The same policy compiled (its rules in the same order). */
  readonly compiled: CompiledPolicy;
  /** The registry's targets. */
  readonly targets: readonly GateTarget[];
  /** The operations a caller can be told about (not `list_targets`). */
  readonly operations: readonly OperationFacts[];
}

function names(list: readonly string[]): string {
  const shown = list.slice(0, MAX_NAMES).join(", ");
  return list.length > MAX_NAMES ? `${shown} and ${list.length - MAX_NAMES} more` : shown;
}

function limitWords(name: string, c: ParamConstraint): string {
  const parts: string[] = [];
  if (c.enum) parts.push(`one of ${c.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  if (c.pattern !== undefined) parts.push(`matching /${c.pattern}/`);
  if (c.roots) parts.push(`under ${c.roots.join(" or ")}`);
  if (c.cidrs) parts.push(`an IP address in ${c.cidrs.join(", ")}`);
  if (c.min !== undefined) parts.push(`at least ${c.min}`);
  if (c.max !== undefined) parts.push(`at most ${c.max}`);
  const required = c.optional ? " (may be left out)" : " (must be given)";
  return `\`${name}\` ${parts.join(", ")}${required}`;
}

function windowWords(w: Window): string {
  return `${w.days.join(", ")} ${w.hours.map((h) => h.text).join(", ")} ${w.timezone}`;
}

function lockoutWords(l: Lockout): string {
  const when = "from" in l ? `from ${l.from} until ${l.until}` : windowWords(l);
  return l.reason ? `${when} (${l.reason})` : when;
}

function effectWords(rule: Rule): string {
  if (rule.effect === "deny") return "Denies";
  if (rule.effect === "allow") return "Allows";
  if (rule.confirm) return "Asks you to confirm";
  return rule.separation_of_duties === false
    ? "Needs approval (you may approve it yourself) for"
    : "Needs approval by another identity holding approvals:grant for";
}

/** One rule, or `undefined` when it covers nothing the caller could reach. */
function ruleWords(
  sources: PolicySources,
  identity: Identity,
  index: number,
): string | undefined {
  const rule = sources.file.rules[index];
  const compiled = sources.compiled.rules[index];
  if (rule === undefined || compiled === undefined || compiled.id !== rule.id) return undefined;
  // Operations grouped by the set of the caller's targets the rule covers them on.
  const groups = new Map<string, string[]>();
  for (const operation of sources.operations) {
    if (!compiled.matchesOperation(operation)) continue;
    const on = sources.targets.filter((target) =>
      compiled.matchesTarget(target) && admitsBeforePolicy({ identity, operation, target })
    ).map((t) => t.id);
    if (on.length === 0) continue;
    const key = names(on);
    groups.set(key, [...groups.get(key) ?? [], operation.name]);
  }
  if (groups.size === 0) return undefined;
  const covered = [...groups].map(([on, ops]) => `${names(ops)} on ${on}`).join("; ");
  const lines = [`- Rule "${rule.id}": ${effectWords(rule)} ${covered}.`];
  const limits = Object.entries(rule.params);
  if (limits.length > 0) {
    lines.push(`  Limits: ${limits.map(([name, c]) => limitWords(name, c)).join("; ")}.`);
  }
  const tiers = (rule.window_tiers ?? DEFAULT_WINDOW_TIERS).join(" and ");
  if (rule.windows) {
    lines.push(`  ${tiers} calls only during: ${rule.windows.map(windowWords).join("; ")}.`);
  }
  if (rule.lockouts) {
    lines.push(`  No ${tiers} calls during: ${rule.lockouts.map(lockoutWords).join("; ")}.`);
  }
  if (rule.effect === "approve") {
    const ttl = Math.round((rule.approval_ttl ?? 15 * 60_000) / 60_000);
    lines.push(`  An approval request stays valid for ${ttl} minute${ttl === 1 ? "" : "s"}.`);
  }
  return lines.join("\n");
}

/**
 * The effective policy for a caller, in words.
 *
 * @param sources The policy (as written and compiled), targets and operations.
 * @param identity The caller.
 * @returns Plain text, a few lines per rule that concerns the caller.
 */
export function describePolicy(sources: PolicySources, identity: Identity): string {
  const rules = sources.file.rules.map((_, i) => ruleWords(sources, identity, i))
    .filter((words) => words !== undefined);
  const limits = TIERS.map((tier) => {
    const set = sources.file.rate_limits?.[tier];
    const perMinute = set?.per_minute ?? DEFAULT_RATE_LIMITS[tier].perMinute;
    const burst = set?.burst ?? (set ? set.per_minute : DEFAULT_RATE_LIMITS[tier].burst);
    return `${tier} ${perMinute}/min (burst ${burst})`;
  });
  return [
    `Policy for ${identity.subject}.`,
    `Your scopes: ${[...identity.scopes].sort().join(", ") || "none"}.`,
    "Deny by default: a call runs only where the target allows the operation's capability, " +
    "you hold that scope there, and a rule below covers it. A deny rule wins; a rule needing " +
    "approval outranks one that allows; at least one covering rule's limits must accept the " +
    "arguments; control and admin calls follow a rule's windows and lockouts.",
    rules.length > 0 ? "Rules that concern you:" : "No rule concerns anything you may reach.",
    ...rules,
    `Rate limits per identity (calls and resource reads): ${limits.join(", ")}.`,
  ].join("\n");
}
