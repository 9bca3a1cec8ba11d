/**
 * What approval transitions return: outcomes, refusal codes and the data
 * the audit log needs.
 *
 * Private to `src/gate`; import from `approvals.ts`.
 *
 * @module
 */
import type { JsonValue } from "../audit/canonical_json.ts";
import type { ApprovalRecord } from "./_approval_store.ts";

/** Audit events an approval transition produces. */
export type ApprovalAuditEvent =
  | "approval_requested"
  | "approval_granted"
  | "approval_denied"
  | "approval_expired"
  | "approval_used"
  | "approval_refused";

/** Why an approval operation was refused. */
export type ApprovalRefusalCode =
  | "not_found"
  | "not_pending"
  | "not_approved"
  | "expired"
  | "self_approval"
  | "already_used"
  | "call_mismatch"
  | "bad_grant";

/** What the audit log needs about one approval transition (the lead writes the record). */
export interface ApprovalAudit {
  /** What happened. */
  readonly event: ApprovalAuditEvent;
  /** When, ISO 8601. */
  readonly time: string;
  /** Who acted: requester, approver, or `gateway` for expiry. */
  readonly identity: string;
  /** The bound tool. */
  readonly tool: string;
  /** The bound target ids. */
  readonly targets: readonly string[];
  /** The policy rule that asked for approval. */
  readonly rule: string;
  /** Each target's rule, when the approval spans more than one rule. */
  readonly rules?: Readonly<Record<string, string>>;
  /** The refusal code, for `approval_refused` and refused expiries. */
  readonly reason?: ApprovalRefusalCode;
  /** The bound arguments, on `approval_requested` only; redact before writing. */
  readonly args?: Readonly<Record<string, JsonValue>>;
  /** Approval id, binding, state, requester, expiry and the human sentence. */
  readonly detail: Readonly<Record<string, string>>;
}

/** The result of approve, deny and consume. */
export type ApprovalOutcome =
  | { readonly ok: true; readonly approval: ApprovalRecord; readonly audit: ApprovalAudit }
  | {
    readonly ok: false;
    readonly code: ApprovalRefusalCode;
    readonly reason: string;
    readonly audit?: ApprovalAudit;
  };

/** A refused approval operation. */
export type ApprovalRefusal = Extract<ApprovalOutcome, { ok: false }>;

/**
 * Builds the audit data for one transition.
 *
 * @param approval The record after the transition.
 * @param event What happened.
 * @param extra Who acted, when, and the refusal code and sentence if any.
 * @returns The audit data.
 */
export function audit(
  approval: ApprovalRecord,
  event: ApprovalAuditEvent,
  extra: { identity: string; now: Date; reason?: ApprovalRefusalCode; message?: string },
): ApprovalAudit {
  const detail: Record<string, string> = {
    approval_id: approval.id,
    binding: approval.binding,
    state: approval.state,
    requester: approval.requester,
    expires: approval.expires,
  };
  if (event === "approval_requested") detail.summary = approval.summary;
  if (approval.decided_by) detail.decided_by = approval.decided_by;
  if (extra.message) detail.message = extra.message;
  return {
    event,
    time: extra.now.toISOString(),
    identity: extra.identity,
    tool: approval.tool,
    targets: approval.targets,
    rule: approval.rule,
    ...(approval.rules && { rules: approval.rules }),
    ...(extra.reason && { reason: extra.reason }),
    ...(event === "approval_requested" && { args: approval.args }),
    detail,
  };
}

/**
 * A refusal with its `approval_refused` (or given) audit data.
 *
 * @param approval The record concerned.
 * @param how Code, sentence, actor, instant and optionally another event name.
 * @returns The refusal.
 */
export function refusal(
  approval: ApprovalRecord,
  how: {
    code: ApprovalRefusalCode;
    reason: string;
    identity: string;
    now: Date;
    event?: ApprovalAuditEvent;
  },
): ApprovalRefusal {
  const { code, reason, identity, now } = how;
  const event = audit(approval, how.event ?? "approval_refused", {
    identity,
    now,
    reason: code,
    message: reason,
  });
  return { ok: false, code, reason, audit: event };
}

/**
 * The refusal for a transition another process claimed first.
 *
 * @param approval The record concerned.
 * @param identity Who tried.
 * @param now When.
 * @returns The refusal.
 */
export function alreadyDecided(
  approval: ApprovalRecord,
  identity: string,
  now: Date,
): ApprovalRefusal {
  const reason =
    `Approval ${approval.id} was already decided elsewhere: expected a pending approval`;
  return refusal(approval, { code: "not_pending", reason, identity, now });
}
