/**
 * Approvals inside a call: ask for one when a rule demands it, or use the
 * approval the caller names — and audit every step.
 *
 * @module
 */
import type { AuditEntry } from "../audit/record.ts";
import type { Target } from "../config/targets_schema.ts";
import { type ApprovalAudit, type ApprovalRecord, transitionAudit } from "../gate/approvals.ts";
import type { ApprovalTerms } from "../gate/policy.ts";
import type { Identity } from "../gate/identity.ts";
import type { Operation } from "../ops/operation.ts";
import { describePlan } from "./describe_plan.ts";
import type { ApprovalInfo } from "./envelope.ts";
import { planFor } from "./_run_target.ts";
import type { ApprovalDeps } from "./call_deps.ts";

export type { ApprovalDeps } from "./call_deps.ts";

const STATE_AFTER: Record<ApprovalAudit["event"], string | undefined> = {
  approval_requested: "pending",
  approval_granted: "approved",
  approval_denied: "denied",
  approval_expired: "expired",
  approval_used: "used",
  approval_refused: undefined,
};

/**
 * Turns an approval transition into an audit record.
 *
 * @param event The transition from the store.
 * @param redact Redacts the bound arguments.
 * @returns The audit entry.
 */
export function approvalAuditEntry(
  event: ApprovalAudit,
  redact: (value: unknown, tool?: string) => Record<string, unknown>,
): AuditEntry {
  return {
    event: event.event,
    identity: event.identity,
    tool: event.tool,
    ...(event.targets.length === 1 ? { target: event.targets[0] } : {}),
    ...(event.rule ? { rule: event.rule } : {}),
    ...(event.reason ? { reason: event.reason } : {}),
    ...(event.args ? { args: redact(event.args, event.tool) } : {}),
    detail: {
      ...event.detail,
      targets: [...event.targets],
      ...(event.rules ? { rules: { ...event.rules } } : {}),
    },
  };
}

/**
 * Records an approval transition in the audit log and notifies the webhook.
 *
 * @param deps Audit, redaction and notification.
 * @param event The transition.
 */
export async function recordApproval(deps: ApprovalDeps, event: ApprovalAudit): Promise<void> {
  const state = STATE_AFTER[event.event];
  if (state !== undefined && event.detail.approval_id) {
    deps.seen.set(event.detail.approval_id, state);
  }
  await deps.audit(approvalAuditEntry(event, deps.redact));
  deps.notify?.({ ...event, args: undefined });
}

/**
 * Audits approval transitions made outside this process — `tailops approvals
 * approve|deny` on the gateway host writes only the approval file, since the
 * gateway holds the audit log — and expires overdue approvals. Runs at once
 * and then every interval, until the returned function is called.
 *
 * A decision the CLI made is marked unaudited in the store until audited
 * here, so one made while no gateway ran (or just before one stopped) is
 * audited by the next gateway, even when the approval was used meanwhile.
 *
 * @param deps Store, audit and the seen-state table.
 * @param options Poll interval and clock.
 * @returns A function that stops watching.
 */
export function watchApprovals(
  deps: ApprovalDeps,
  options: { intervalMs?: number; now?: () => Date } = {},
): () => void {
  const now = options.now ?? (() => new Date());
  let running = false;
  const primed = deps.store.list().then(async (all) => {
    for (const a of all) {
      if (!deps.seen.has(a.id) && !(await deps.store.unaudited(a.id))) deps.seen.set(a.id, a.state);
    }
  }).catch(() => {});
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await primed;
      for (const approval of await deps.store.list()) {
        if (!approval.decided_by || !(await deps.store.unaudited(approval.id))) continue;
        // Audit the decision as it was made, whatever state the approval reached since.
        const denied = approval.state === "denied";
        const decided = { ...approval, state: denied ? "denied" as const : "approved" as const };
        await recordApproval(
          deps,
          transitionAudit(decided, denied ? "approval_denied" : "approval_granted", {
            identity: approval.decided_by,
            now: new Date(approval.decided_at ?? now()),
          }),
        );
        await deps.store.markAudited(approval.id);
        deps.seen.set(approval.id, approval.state);
      }
      for (const event of await deps.store.sweep(now())) await recordApproval(deps, event);
      for (const approval of await deps.store.list()) {
        const seen = deps.seen.get(approval.id);
        if (seen === approval.state) continue;
        // Decided by the CLI since the pass above: the next tick audits it from its marker.
        if (await deps.store.unaudited(approval.id)) continue;
        const event = approval.state === "approved"
          ? "approval_granted"
          : approval.state === "denied"
          ? "approval_denied"
          : undefined;
        if (event && approval.decided_by) {
          await recordApproval(
            deps,
            transitionAudit(approval, event, { identity: approval.decided_by, now: now() }),
          );
        } else {
          deps.seen.set(approval.id, approval.state);
        }
      }
    } catch {
      // A failed poll is retried on the next tick; a failing audit log refuses calls anyway.
    } finally {
      running = false;
    }
  };
  const timer = setInterval(tick, options.intervalMs ?? 2_000);
  Deno.unrefTimer(timer);
  tick();
  return () => clearInterval(timer);
}

/**
 * Names policy rules for a sentence: `rule "a"` or `rules "a", "b"`.
 *
 * @param names Rule ids (repeats are named once).
 * @returns The phrase.
 */
export function rulePhrase(names: readonly string[]): string {
  const unique = [...new Set(names)];
  return `rule${unique.length > 1 ? "s" : ""} ${unique.map((n) => `"${n}"`).join(", ")}`;
}

/**
 * How a person approves an approval.
 *
 * @param approval The approval.
 * @returns A sentence naming the commands.
 */
export function howToApprove(approval: ApprovalRecord): string {
  const who = approval.separation_of_duties
    ? "someone other than the requester"
    : "the requester or an approver";
  return `To approve, ${who} runs \`tailops approvals approve ${approval.id}\` on the gateway host, or POSTs to /approvals/${approval.id}/approve with a token holding approvals:grant; then call again with the same arguments and approval_id "${approval.id}".`;
}

/**
 * The client-facing summary of an approval.
 *
 * @param approval The approval.
 * @returns What the tool result shows.
 */
export function approvalInfo(approval: ApprovalRecord): ApprovalInfo {
  return {
    id: approval.id,
    state: approval.state,
    rule: approval.rule,
    ...(approval.rules ? { rules: approval.rules } : {}),
    requester: approval.requester,
    targets: approval.targets,
    expires: approval.expires,
    how_to_approve: howToApprove(approval),
  };
}

/** A request for approval of one call. */
export interface ApprovalAsk {
  readonly identity: Identity;
  readonly operation: Operation;
  readonly targets: readonly Target[];
  readonly args: Record<string, unknown>;
  /** The first rule that asked for approval. */
  readonly rule: string;
  /** Each target's rule (every rule's terms are combined into `terms`). */
  readonly rules?: Readonly<Record<string, string>>;
  readonly terms?: ApprovalTerms;
  readonly now: Date;
}

/**
 * Records a pending approval for a call, with the exact plans an approver
 * will see (what dry run shows).
 *
 * @param deps Store and audit.
 * @param ask The call.
 * @returns The pending approval.
 */
export async function requestApproval(
  deps: ApprovalDeps,
  ask: ApprovalAsk,
): Promise<ApprovalRecord> {
  const plans = Object.fromEntries(ask.targets.map((target) => {
    const planned = planFor(ask.operation, ask.args, target);
    return [
      target.id,
      "plan" in planned ? describePlan(planned.plan, target) : { refused: planned.error.message },
    ];
  }));
  const ids = ask.targets.map((t) => t.id);
  const { approval, audit } = await deps.store.request({
    requester: ask.identity.subject,
    tool: ask.operation.name,
    targets: ids,
    args: ask.args,
    rule: ask.rule,
    rules: ask.rules,
    summary: `${ask.identity.subject} asks to run ${ask.operation.name} on ${ids.join(", ")}`,
    plan: plans,
    terms: ask.terms,
  }, { now: ask.now });
  await recordApproval(deps, audit);
  return approval;
}
