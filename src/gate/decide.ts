/**
 * The capability gate: one pure, synchronous decision per (identity,
 * operation, target, arguments). No I/O; the same function serves
 * `tools/list` filtering and `tools/call`.
 *
 * @module
 */
import type { Selectable } from "../config/selector.ts";
import { type Capability, type TargetType, type Tier, tierOf } from "../config/capabilities.ts";
import { holdsOn, type Identity } from "./identity.ts";
import type { ApprovalTerms, CompiledPolicy, CompiledRule, OperationFacts } from "./policy.ts";
import { scheduleRefusal } from "./windows.ts";
import { strictestTerms } from "./approval_terms.ts";

/** Stable reason codes for a denial; clients and tests may key on them. */
export type DenyCode =
  | "unsupported_target"
  | "target_capability"
  | "identity_scope"
  | "identity_target"
  | "policy_deny"
  | "no_rule"
  | "param_constraint"
  | "outside_window"
  | "lockout";

/** The gate's answer. */
export type Decision =
  | { readonly kind: "allow"; readonly rule: string }
  | {
    readonly kind: "approval_required";
    readonly rule: string;
    /** The rule's approval terms (always set by {@linkcode decide}). */
    readonly approval?: ApprovalTerms;
  }
  | {
    readonly kind: "deny";
    readonly code: DenyCode;
    readonly reason: string;
    readonly rule?: string;
  };

/** The parts of a target the gate reads. */
export interface GateTarget extends Selectable {
  /** Target type. */
  readonly type: TargetType;
  /** What the target allows. */
  readonly capabilities: readonly Capability[];
}

/** One question for the gate. */
export interface GateRequest {
  /** Who is calling. */
  readonly identity: Identity;
  /** What they want to run. */
  readonly operation: OperationFacts;
  /** Where. */
  readonly target: GateTarget;
  /** Validated arguments of the operation (without target selection and dry_run). */
  readonly args: Readonly<Record<string, unknown>>;
  /**
   * The current instant, for maintenance windows and lockouts. The gate reads
   * no clock itself; without `now`, a call that a window or lockout governs is denied.
   */
  readonly now?: Date;
}

function deny(code: DenyCode, reason: string, rule?: string): Decision {
  return rule === undefined ? { kind: "deny", code, reason } : { kind: "deny", code, reason, rule };
}

/**
 * Rungs 1 to 4 of the ladder: what the operation, the target and the caller's
 * scopes allow before any policy rule is read.
 */
function preconditions(request: Omit<GateRequest, "args">): Decision | undefined {
  const { identity, operation: op, target } = request;
  // 1. The operation must exist for this kind of target at all.
  if (!op.targetTypes.includes(target.type)) {
    return deny(
      "unsupported_target",
      `Operation "${op.name}" does not run on ${target.type} targets such as "${target.id}": it runs on ${
        op.targetTypes.join(", ")
      } targets`,
    );
  }
  // 2. The target's own registry entry must grant the capability.
  if (!target.capabilities.includes(op.capability)) {
    return deny(
      "target_capability",
      `Target "${target.id}" does not allow ${op.capability}, which ${op.name} needs`,
    );
  }
  // 3. The caller must hold the capability as a scope.
  if (!identity.scopes.has(op.capability)) {
    return deny(
      "identity_scope",
      `You (${identity.subject}) lack the ${op.capability} scope for "${op.name}"`,
    );
  }
  // 4. The scope must hold on this target: roles limited to some targets grant nothing elsewhere.
  if (!holdsOn(identity, op.capability, target)) {
    return deny(
      "identity_target",
      `You (${identity.subject}) hold ${op.capability} only on other targets than "${target.id}"`,
    );
  }
  return undefined;
}

/**
 * Whether the operation, the target and the caller's scopes let an
 * operation run on a target before any policy rule is read (rungs 1 to 4):
 * what a description of the caller's effective policy is limited to.
 *
 * @param request Identity, operation and target.
 * @returns `true` when only the policy's rules remain to decide.
 */
export function admitsBeforePolicy(request: Omit<GateRequest, "args">): boolean {
  return preconditions(request) === undefined;
}

/** The rules covering an operation on a target, in file order (through the index when there is one). */
function matchingRules(
  policy: CompiledPolicy,
  op: OperationFacts,
  target: GateTarget,
): readonly CompiledRule[] {
  return policy.index?.matching(op, target) ??
    policy.rules.filter((r) => r.matchesOperation(op) && r.matchesTarget(target));
}

/**
 * Decides one call. Deny by default: identity scopes, target capabilities and
 * a policy rule must all agree.
 *
 * @param request Identity, operation, target and arguments.
 * @param policy The compiled policy.
 * @returns The decision, with a reason code and sentence when denied.
 */
export function decide(request: GateRequest, policy: CompiledPolicy): Decision {
  // 0. An operation about the gate itself follows the operations it describes.
  if (request.operation.visibleWith) {
    return couldUse(request, policy)
      ? { kind: "allow", rule: "visible" }
      : deny("no_rule", `Nothing you may run is allowed on target "${request.target.id}"`);
  }
  const early = preconditions(request);
  if (early) return early;
  const { operation: op, target, args } = request;
  const on = `"${op.name}" on target "${target.id}"`;
  const matching = matchingRules(policy, op, target);
  // 5. An explicit deny rule wins over everything else.
  const denial = matching.find((r) => r.effect === "deny");
  if (denial) return deny("policy_deny", `Policy rule "${denial.id}" forbids ${on}`, denial.id);
  // 6. Without a rule that allows it, nothing runs.
  if (matching.length === 0) return deny("no_rule", `No policy rule allows ${on}`);
  // 7. At least one matching rule's parameter limits must accept the arguments.
  let refusal: { rule: string; reason: string } | undefined;
  const passing = matching.filter((r) => {
    const reason = r.checkParams(args, op);
    if (reason && refusal === undefined) refusal = { rule: r.id, reason };
    return reason === undefined;
  });
  if (passing.length === 0 && refusal) {
    return deny(
      "param_constraint",
      `Policy rule "${refusal.rule}" refuses ${on}: ${refusal.reason}`,
      refusal.rule,
    );
  }
  // 8. Windows and lockouts: a rule admits a control or admin call only
  //    inside its windows; a lockout on any admitting rule stops the call.
  const open = openRules(passing, { tier: tierOf(op.capability), now: request.now });
  if (!Array.isArray(open)) {
    return deny(open.code, `Policy rule "${open.rule}" refuses ${on}: ${open.reason}`, open.rule);
  }
  // 9. A rule demanding approval outranks a rule that simply allows; when
  //    several do, the strictest terms of them all apply.
  const approvals = open.filter((r) => r.effect === "approve");
  if (approvals.length > 0) {
    return {
      kind: "approval_required",
      rule: approvals[0].id,
      approval: strictestTerms(approvals.map((r) => r.approval)),
    };
  }
  return { kind: "allow", rule: open[0].id };
}

/** A time-based refusal by one rule. */
interface TimeRefusal {
  readonly code: "outside_window" | "lockout";
  readonly rule: string;
  readonly reason: string;
  readonly next?: Date;
}

/**
 * The rules whose windows admit the call now, or the refusal when none does:
 * a lockout first, else the window that opens soonest. Fails closed without a clock.
 */
function openRules(
  rules: readonly CompiledRule[],
  call: { tier: Tier; now: Date | undefined },
): CompiledRule[] | TimeRefusal {
  const open: CompiledRule[] = [];
  let closed: TimeRefusal | undefined;
  for (const rule of rules) {
    if (rule.schedule === undefined || !rule.schedule.tiers.includes(call.tier)) {
      open.push(rule);
      continue;
    }
    if (call.now === undefined) {
      const reason = "its windows and lockouts cannot be checked without the current time";
      return { code: "outside_window", rule: rule.id, reason };
    }
    const refusal = scheduleRefusal(rule.schedule, { tier: call.tier, now: call.now });
    if (refusal === undefined) open.push(rule);
    else if (refusal.code === "lockout") return { ...refusal, rule: rule.id };
    else if (closed === undefined || (refusal.next && !(closed.next! <= refusal.next))) {
      closed = { ...refusal, rule: rule.id };
    }
  }
  return open.length > 0 || closed === undefined ? open : closed;
}

/**
 * Whether an identity could use an operation on a target with some arguments:
 * the decision ladder without parameter limits. Drives `tools/list`.
 * Windows and lockouts are not read: a tool stays listed outside its window,
 * and a call gets the reason and the next window's start from {@linkcode decide}.
 *
 * @param request Identity, operation and target (arguments are ignored).
 * @param policy The compiled policy.
 * @returns `true` when some call could be allowed or approved.
 */
export function couldUse(request: Omit<GateRequest, "args">, policy: CompiledPolicy): boolean {
  const about = request.operation.visibleWith;
  if (about) return about.some((operation) => couldUse({ ...request, operation }, policy));
  if (preconditions(request)) return false;
  const { operation: op, target } = request;
  const matching = matchingRules(policy, op, target);
  return matching.length > 0 && !matching.some((r) => r.effect === "deny");
}

/**
 * Whether every call of an operation on a target that the policy admits
 * needs approval: the caller could use it, and each rule that matches is an
 * `approve` rule. What `list_targets` reports as "needs approval"; a call
 * still gets its exact answer from {@linkcode decide}.
 *
 * @param request Identity, operation and target.
 * @param policy The compiled policy.
 * @returns `true` when no matching rule simply allows the operation there.
 */
export function alwaysNeedsApproval(
  request: Omit<GateRequest, "args">,
  policy: CompiledPolicy,
): boolean {
  if (!couldUse(request, policy)) return false;
  const { operation: op, target } = request;
  return policy.rules
    .filter((r) => r.matchesOperation(op) && r.matchesTarget(target))
    .every((r) => r.effect === "approve");
}
