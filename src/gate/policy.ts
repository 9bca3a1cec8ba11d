/**
 * Compiles a validated policy file into matchers, so that a bad rule is a
 * configuration error at load time rather than a surprise at call time.
 *
 * @module
 */
import { ConfigError, type ConfigProblem, type SourcePosition } from "../config/errors.ts";
import { formatPath } from "../config/yaml_source.ts";
import { isUnderRoots } from "../config/paths.ts";
import type { ParamConstraint, PolicyFile, RateLimits, Rule } from "../config/policy_schema.ts";
import { compileSelector, type TargetMatcher } from "../config/selector.ts";
import { compileGlob } from "../config/glob.ts";
import { compilePattern } from "../config/pattern.ts";
import { inRange, type IpRange, parseCidr, parseIp } from "../config/ip_range.ts";
import { type Capability, type TargetType, type Tier, tierOf } from "../config/capabilities.ts";
import type { Schedule } from "./windows.ts";
import { indexRules, type RuleIndex } from "./rule_index.ts";

/** Default time an approval request stays valid: 15 minutes. */
export const DEFAULT_APPROVAL_TTL_MS = 15 * 60_000;

/** Tiers a rule's windows and lockouts apply to when it does not say: observe is exempt. */
export const DEFAULT_WINDOW_TIERS: readonly Tier[] = ["control", "admin"];

/** How an `approve` rule's approvals work. */
export interface ApprovalTerms {
  /** How long a request stays valid, in milliseconds. */
  readonly ttlMs: number;
  /** Whether the approver must differ from the requester. */
  readonly separationOfDuties: boolean;
  /** Whether the requester may confirm the call themself. */
  readonly confirm: boolean;
}

/**
 * What leaving out one parameter of an operation means for the call's reach,
 * declared once beside the operation (in `src/ops`). A rule that limits a
 * parameter refuses a call that leaves it out, unless the limit is marked
 * `optional` or leaving it out is the narrowest call; and it refuses a call
 * that sets one of the parameters that widen it (`all` for `packages`),
 * unless the rule limits that parameter too.
 */
export interface ParamReach {
  /** What leaving the parameter out (or giving an empty list) means, in words: "every unit". */
  readonly absent: string;
  /** Whether leaving it out keeps the call at its narrowest (no query sent), so any limit admits that. */
  readonly absentIsNarrowest?: boolean;
  /** Parameters that, when set, take the call beyond this one's value (`all` for `packages`). */
  readonly widenedBy?: readonly string[];
}

/** What the gate needs to know about an operation. */
export interface OperationFacts {
  /** Tool name. */
  readonly name: string;
  /** Capability the operation needs (for the given arguments, when it varies). */
  readonly capability: Capability;
  /**
   * Tier of that capability. The gate derives the tier from `capability`
   * itself, so facts whose capability varies with the arguments (an HTTP
   * POST needs `http:write`, a control-tier capability) cannot slip through
   * as observe calls when this field is left stale.
   */
  readonly tier: Tier;
  /** Target types the operation runs on. */
  readonly targetTypes: readonly TargetType[];
  /** Names of the operation's own parameters. */
  readonly paramNames: readonly string[];
  /** What leaving out a parameter means, by parameter name; undeclared: nothing narrower. */
  readonly paramReach?: Readonly<Record<string, ParamReach>>;
  /**
   * Set on an operation the gateway answers from its own configuration
   * (`list_targets`): it is usable on a target exactly when one of these
   * operations is, so it never shows a caller a target they could not use.
   * The gate then reads nothing else of this operation.
   */
  readonly visibleWith?: readonly OperationFacts[];
}

/** A parameter check: returns a reason when the value is refused. */
type ParamCheck = (
  args: Readonly<Record<string, unknown>>,
  op: Pick<OperationFacts, "paramNames" | "paramReach">,
) => string | undefined;

/** A rule ready for evaluation. */
export interface CompiledRule {
  /** Rule id, recorded with every decision. */
  readonly id: string;
  /** What the rule does when it matches. */
  readonly effect: Rule["effect"];
  /** Whether the rule covers an operation. */
  readonly matchesOperation: (op: OperationFacts) => boolean;
  /** Whether the rule covers a target. */
  readonly matchesTarget: TargetMatcher;
  /**
   * Checks arguments against the rule's parameter limits. Fails closed: a
   * limited parameter must be given (unless its limit is `optional`) and no
   * parameter that widens it may be set (see {@linkcode ParamReach}).
   */
  readonly checkParams: ParamCheck;
  /** Maintenance windows and lockouts, when the rule has any. */
  readonly schedule?: Schedule;
  /** Approval terms, for `approve` rules. */
  readonly approval?: ApprovalTerms;
}

/** A policy ready for evaluation. */
export interface CompiledPolicy {
  /** Rules in file order. */
  readonly rules: readonly CompiledRule[];
  /** Per-tier rate limits as written; tiers left out use the limiter's defaults. */
  readonly rateLimits?: RateLimits;
  /** The rules by operation and target selector; without it every rule is tried. */
  readonly index?: RuleIndex<CompiledRule, OperationFacts>;
}

// Whether an argument is set in a way that changes the call: not left out, not false, not empty.
const isSet = (value: unknown) =>
  value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0);

/** A limit with its pattern and ranges compiled. */
type CompiledConstraint = ParamConstraint & {
  readonly matches?: (value: string) => boolean;
  readonly ranges?: readonly IpRange[];
};

// Only the canonical spellings parseIp accepts count (no "127.1", no octal or hex parts).
function inRanges(ranges: readonly IpRange[], value: unknown): boolean {
  const ip = typeof value === "string" ? parseIp(value) : undefined;
  return ip !== undefined && ranges.some((range) => inRange(range, ip));
}

function valueProblem(name: string, c: CompiledConstraint, value: unknown): string | undefined {
  const shown = JSON.stringify(value);
  if (c.enum && !c.enum.includes(value as string | number | boolean)) {
    return `parameter "${name}" must be one of ${
      c.enum.map((v) => JSON.stringify(v)).join(", ")
    }, found ${shown}`;
  }
  if (c.pattern !== undefined && (typeof value !== "string" || !c.matches!(value))) {
    return `parameter "${name}" must match /${c.pattern}/, found ${shown}`;
  }
  if (c.roots && (typeof value !== "string" || !isUnderRoots(value, c.roots))) {
    return `parameter "${name}" must be under ${c.roots.join(" or ")}, found ${shown}`;
  }
  if (c.ranges && !inRanges(c.ranges, value)) {
    return `parameter "${name}" must be an IP address in ${c.cidrs!.join(", ")}, found ${shown}`;
  }
  if (c.min !== undefined && (typeof value !== "number" || value < c.min)) {
    return `parameter "${name}" must be at least ${c.min}, found ${shown}`;
  }
  if (c.max !== undefined && (typeof value !== "number" || value > c.max)) {
    return `parameter "${name}" must be at most ${c.max}, found ${shown}`;
  }
  return undefined;
}

function compileConstraint(
  name: string,
  constraint: ParamConstraint,
  limited: ReadonlySet<string>,
): ParamCheck {
  const c: CompiledConstraint = {
    ...constraint,
    matches: constraint.pattern === undefined ? undefined : compilePattern(constraint.pattern),
    ranges: constraint.cidrs?.map((text) => parseCidr(text)!),
  };
  return (args, op) => {
    // The limit speaks about operations that have the parameter; the rule may cover others.
    if (!op.paramNames.includes(name)) return undefined;
    const reach = op.paramReach?.[name];
    // A parameter that widens this one (`all` beside `packages`) would step around the limit.
    for (const wider of reach?.widenedBy ?? []) {
      if (!limited.has(wider) && isSet(args[wider])) {
        return `parameter "${wider}" takes the call beyond the limits on "${name}", found ${
          JSON.stringify(args[wider])
        }: expected ${JSON.stringify(name)} within its limits instead`;
      }
    }
    const value = args[name];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) {
      // Fail closed: leaving a limited parameter out usually means "everything".
      if (c.optional === true || reach?.absentIsNarrowest === true) return undefined;
      return `parameter "${name}" must be given, found it left out (which means ${
        reach?.absent ?? "no limit on it"
      })`;
    }
    // A list is within the limits when every element is.
    for (const item of Array.isArray(value) ? value : [value]) {
      const problem = valueProblem(name, c, item);
      if (problem) return problem;
    }
    return undefined;
  };
}

/**
 * Compiles a policy against the operation catalog.
 *
 * @param policy The validated policy file.
 * @param operations Every operation the gateway offers.
 * @param options `file`: name for error messages; `locate`: finds a key path's
 *   `file:line:column` in the source (see `loadPolicy`).
 * @returns The compiled policy.
 * @throws {ConfigError} When a rule names an operation or parameter that no operation has.
 */
export function compilePolicy(
  policy: PolicyFile,
  operations: readonly OperationFacts[],
  options: {
    file?: string;
    locate?: (path: readonly (string | number)[]) => SourcePosition | undefined;
  } = {},
): CompiledPolicy {
  const file = options.file ?? "policy";
  const at = (path: (string | number)[]) => {
    const position = options.locate?.(path);
    return { path: formatPath(path), ...(position ? { position } : {}) };
  };
  const problems: ConfigProblem[] = [];
  const rules = policy.rules.map((rule, index): CompiledRule => {
    const names = rule.operations.map((glob) => compileGlob(glob));
    const tiers = rule.tiers;
    const capabilities = rule.capabilities;
    const matchesOperation = (op: OperationFacts) =>
      names.some((matches) => matches(op.name)) &&
      // The tier is the capability's, whatever `op.tier` says (see OperationFacts).
      (tiers === undefined || tiers.includes(tierOf(op.capability))) &&
      (capabilities === undefined || capabilities.includes(op.capability));
    const covered = operations.filter(matchesOperation);
    // Every literal name must exist: a typo in a deny rule's list would fail open.
    const literal = rule.operations.filter((name) => !/[*?]/.test(name));
    const unknown = literal.filter((name) => !operations.some((op) => op.name === name));
    if (unknown.length > 0) {
      problems.push({
        ...at(["rules", index, "operations"]),
        message: `Rule ${JSON.stringify(rule.id)} names unknown operation${
          unknown.length > 1 ? "s" : ""
        } ${unknown.map((n) => JSON.stringify(n)).join(", ")}: expected names from ${
          operations.map((op) => op.name).join(", ")
        }`,
      });
    } else if (covered.length === 0 && literal.length === rule.operations.length) {
      problems.push({
        ...at(["rules", index, "operations"]),
        message: `Rule ${JSON.stringify(rule.id)} matches no operation: expected names from ${
          operations.map((op) => op.name).join(", ")
        }`,
      });
    }
    const checks: ParamCheck[] = [];
    const limited = new Set(Object.keys(rule.params));
    for (const [name, constraint] of Object.entries(rule.params)) {
      if (covered.length > 0 && !covered.some((op) => op.paramNames.includes(name))) {
        problems.push({
          ...at(["rules", index, "params", name]),
          message: `Rule ${JSON.stringify(rule.id)} limits parameter ${
            JSON.stringify(name)
          }, but none of the operations it matches has it`,
        });
      }
      checks.push(compileConstraint(name, constraint, limited));
    }
    const schedule: Schedule | undefined = rule.windows || rule.lockouts
      ? Object.freeze({
        tiers: Object.freeze(rule.window_tiers ?? DEFAULT_WINDOW_TIERS),
        windows: Object.freeze(rule.windows ?? []),
        lockouts: Object.freeze(rule.lockouts ?? []),
      })
      : undefined;
    const approval: ApprovalTerms | undefined = rule.effect === "approve"
      ? Object.freeze({
        ttlMs: rule.approval_ttl ?? DEFAULT_APPROVAL_TTL_MS,
        separationOfDuties: rule.separation_of_duties ?? !rule.confirm,
        confirm: rule.confirm ?? false,
      })
      : undefined;
    return Object.freeze({
      id: rule.id,
      effect: rule.effect,
      ...(schedule && { schedule }),
      ...(approval && { approval }),
      matchesOperation,
      matchesTarget: compileSelector(rule.targets),
      checkParams: (args: Parameters<ParamCheck>[0], op: Parameters<ParamCheck>[1]) => {
        for (const check of checks) {
          const reason = check(args, op);
          if (reason) return reason;
        }
        return undefined;
      },
    });
  });
  if (problems.length > 0) {
    // With a position the problem already names the file; without one, say which file.
    throw new ConfigError(
      problems.map((p) => (p.position ? p : { ...p, message: `${file}: ${p.message}` })),
    );
  }
  return Object.freeze({
    rules: Object.freeze(rules),
    ...(policy.rate_limits && { rateLimits: policy.rate_limits }),
    index: indexRules(rules, policy.rules.map((rule) => rule.targets)),
  });
}
