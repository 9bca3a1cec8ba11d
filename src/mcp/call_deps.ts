/**
 * What a tool call needs from the rest of the gateway, in a module of its own
 * so that the call pipeline's parts (`call_tool.ts`, `_run_target.ts`,
 * `_record_finished.ts`, `approval_flow.ts`) can share the type without
 * importing each other in a circle.
 *
 * @module
 */
import type { AuditEntry } from "../audit/record.ts";
import type { Registry } from "../config/registry.ts";
import type { Target } from "../config/targets_schema.ts";
import type { ByteBudget } from "../exec/byte_budget.ts";
import type { ExecOutcome, RunOptions } from "../exec/host.ts";
import type { Plan } from "../exec/plan.ts";
import type { CompiledPolicy } from "../gate/mod.ts";
import type { CallRateLimiter } from "../gate/rate_limit.ts";
import type { JWTVerifyGetKey } from "jose";
import type { ApprovalAudit, ApprovalStore } from "../gate/approvals.ts";

/** Where audit records go. Must reject when a record cannot be made durable. */
export interface AuditAppender {
  /**
   * Appends one record; the log adds seq, time and hashes. With
   * `durable: false` it may resolve once the record is written, before it is
   * synced (a call's `finished` record: the client need not wait for it).
   */
  append(entry: AuditEntry, options?: { durable?: boolean }): Promise<unknown>;
}

/** What a call needs from the rest of the gateway. */
export interface CallDeps {
  readonly registry: Registry;
  readonly policy: CompiledPolicy;
  readonly executor: {
    run(target: Target, plan: Plan, options?: RunOptions): Promise<ExecOutcome>;
  };
  readonly audit: AuditAppender;
  /** Redacts arguments for the audit log. */
  readonly redact: (value: unknown) => Record<string, unknown>;
  /** Removes known secret values from text that leaves the gateway. */
  readonly scrub: (text: string) => string;
  /** Ceiling for `forks`. */
  readonly maxForks?: number;
  /** Approvals; without them a rule that asks for approval refuses the call. */
  readonly approvals?: ApprovalDeps;
  /** Per-identity, per-tier call limits. */
  readonly rateLimiter?: CallRateLimiter;
  /** Output memory shared by all calls; without it, calls reserve nothing. */
  readonly outputBudget?: ByteBudget;
  /** The clock (tests inject one). */
  readonly now?: () => Date;
}

/** What the approval flow needs from the gateway. */
export interface ApprovalDeps {
  /** Where approvals live. */
  readonly store: ApprovalStore;
  /** Writes an audit record. */
  readonly audit: (entry: AuditEntry) => Promise<unknown>;
  /** Redacts arguments for the log; given the tool, also keeps what it audits by digest only. */
  readonly redact: (value: unknown, tool?: string) => Record<string, unknown>;
  /** Tells a chat or ticket system about an approval event (never throws). */
  readonly notify?: (event: ApprovalAudit) => void;
  /** Last audited state per approval id, so each transition is audited once. */
  readonly seen: Map<string, string>;
  /** Public keys that verify signed grants (the gateway key and its retained predecessors). */
  readonly grantKeys?: JWTVerifyGetKey;
}
