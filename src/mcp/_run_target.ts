/**
 * One target of one call, after the gate said yes: plan, audit the decision,
 * run (unless dry run), parse, audit the end.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { canonicalJson, sha256Hex } from "../audit/canonical_json.ts";
import type { Target } from "../config/targets_schema.ts";
import type { Plan } from "../exec/plan.ts";
import { type Operation, OperationError } from "../ops/operation.ts";
import type { CallDeps } from "./call_tool.ts";
import { describePlan } from "./describe_plan.ts";
import { recordFinished } from "./_record_finished.ts";
import type { TargetResult } from "./envelope.ts";

const log = getLogger(["tailops", "call"]);

const EXEC_STATUS: Record<string, TargetResult["status"]> = {
  timeout: "timeout",
  unreachable: "unreachable",
  cancelled: "cancelled",
};

/** Fields every audit record of one target's call shares. */
export interface AuditBase {
  identity: string;
  tool: string;
  target: string;
  fanout?: string;
  call: string;
}

/** What {@linkcode runTarget} needs beyond the deps. */
export interface TargetRun {
  readonly operation: Operation;
  readonly target: Target;
  readonly args: Record<string, unknown>;
  readonly redactedArgs: Record<string, unknown>;
  readonly rule: string;
  readonly dryRun: boolean;
  readonly base: AuditBase;
  /** The approval the call ran under, for the audit trail. */
  readonly approvalId?: string;
  readonly signal?: AbortSignal;
  /** Hears the executor's steps while the plan runs (e.g. a task still running). */
  readonly onProgress?: (message: string) => void;
}

/**
 * Plans the call for a target.
 *
 * @param operation The operation.
 * @param args Its validated arguments.
 * @param target The target.
 * @returns The plan, or the operation's refusal.
 */
export function planFor(
  operation: Operation,
  args: Record<string, unknown>,
  target: Target,
): { plan: Plan } | { error: OperationError } {
  try {
    return { plan: operation.plan(args as never, target) };
  } catch (error) {
    if (error instanceof OperationError) return { error };
    throw error;
  }
}

/**
 * Runs one allowed target.
 *
 * @param deps The gateway's executor and audit log.
 * @param run The call on this target.
 * @returns The target's result entry.
 * @throws {AuditError} When the audit log cannot be written before the run
 * (nothing ran); a failure after the run comes back as the entry's `warning`.
 */
export async function runTarget(deps: CallDeps, run: TargetRun): Promise<TargetResult> {
  const { operation: op, target, base, rule } = run;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const approval = run.approvalId ? { approval_id: run.approvalId } : {};
  const planned = planFor(op, run.args, target);
  if ("error" in planned) {
    await deps.audit.append({
      ...base,
      event: "denied",
      args: run.redactedArgs,
      decision: "allow",
      rule,
      reason: planned.error.code,
      detail: { dry_run: run.dryRun, ...approval },
    });
    return {
      target: target.id,
      status: "failed",
      duration_ms: elapsed(),
      rule,
      error: { code: planned.error.code, message: planned.error.message },
    };
  }
  const { plan } = planned;
  const planDigest = await sha256Hex(canonicalJson(plan));
  await deps.audit.append({
    ...base,
    event: "decided",
    args: run.redactedArgs,
    decision: "allow",
    rule,
    plan_digest: planDigest,
    detail: { dry_run: run.dryRun, ...approval },
  });
  if (run.dryRun) {
    return {
      target: target.id,
      status: "planned",
      duration_ms: elapsed(),
      rule,
      plan: describePlan(plan, target),
    };
  }
  const outcome = await deps.executor.run(target, plan, {
    signal: run.signal,
    onProgress: run.onProgress,
  });
  let entry: TargetResult;
  if (!outcome.ok) {
    entry = {
      target: target.id,
      status: EXEC_STATUS[outcome.error.code] ?? "failed",
      duration_ms: elapsed(),
      rule,
      error: outcome.error,
    };
  } else {
    const result = outcome.result;
    const last = result.kind === "exec" ? result.commands.at(-1) : undefined;
    const truncated = result.kind === "exec"
      ? result.commands.some((c) => c.truncated)
      : "truncated" in result && result.truncated === true;
    const exit = last ? { exit_code: last.exitCode } : {};
    try {
      const data = op.parse(result, run.args as never);
      entry = {
        target: target.id,
        status: "ok",
        duration_ms: elapsed(),
        rule,
        data,
        ...exit,
        ...(truncated ? { truncated } : {}),
      };
    } catch (error) {
      if (!(error instanceof OperationError)) {
        log.error("Parser of {tool} failed: {error}", { tool: op.name, error: String(error) });
      }
      entry = {
        target: target.id,
        status: "failed",
        duration_ms: elapsed(),
        rule,
        ...exit,
        error: error instanceof OperationError
          ? { code: error.code, message: error.message }
          : { code: "bad_output", message: `The output of ${op.name} could not be understood` },
      };
    }
  }
  const output = canonicalJson(entry.data ?? entry.error ?? null);
  // Written before the result is returned, synced by its batch without the
  // client waiting for it (the `decided` record above was synced before the run).
  // The call ran: if the log fails now, the client is told so, not "refused".
  return await recordFinished(deps, entry, {
    ...base,
    event: "finished",
    status: entry.status === "ok" ? "ok" : "error",
    exit_code: entry.exit_code ?? null,
    duration_ms: entry.duration_ms,
    output_bytes: new TextEncoder().encode(output).byteLength,
    output_digest: await sha256Hex(output),
    plan_digest: planDigest,
    ...(entry.error ? { reason: entry.error.code } : {}),
    ...(run.approvalId ? { detail: approval } : {}),
  });
}
