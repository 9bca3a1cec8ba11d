/**
 * One target of one call, after the gate said yes: plan, audit the decision,
 * run (unless dry run), parse, audit the end.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  CANONICAL_MAX_DEPTH,
  canonicalJson,
  canonicalJsonDigest,
  sha256HexSync,
} from "../audit/canonical_json.ts";
import type { Target } from "../config/targets_schema.ts";
import { BudgetBusyError, type Reservation } from "../exec/byte_budget.ts";
import type { ExecOutcome } from "../exec/host.ts";
import {
  measureResult,
  OUTPUT_BUDGET_WAIT_MS,
  planOutputBound,
  STREAM_RESERVE_BYTES,
} from "../exec/output_budget.ts";
import type { OutputChunk } from "../exec/protocol.ts";
import { type Plan, tooDeepMessage } from "../exec/plan.ts";
import { type Operation, OperationError } from "../ops/operation.ts";
import type { CallDeps } from "./call_deps.ts";
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
  /**
   * Takes the output memory this target reserved; the caller releases it
   * once the call's result is handed over. Without it the reservation ends
   * when the target does.
   */
  readonly hold?: (reservation: Reservation) => void;
  /** The approval the call ran under, for the audit trail. */
  readonly approvalId?: string;
  readonly signal?: AbortSignal;
  /** Hears the executor's steps while the plan runs (e.g. a task still running). */
  readonly onProgress?: (message: string) => void;
  /** Hears the command's output while it runs, for operations that stream it. */
  readonly onOutput?: (chunk: OutputChunk) => void;
}

/**
 * Whether a call of this operation starts only once its `decided` record is
 * synced: every operation that mutates, is destructive or is above the
 * observe tier (an operator-declared operation's `mutates` is trusted only
 * together with its capability's tier), dry runs included (a dry run may run
 * the operation's check step). Observe operations that change nothing start
 * once the record is written; the group commit syncs it.
 *
 * @param op The operation.
 * @returns True when the record must be durable before the run.
 */
export function mustSyncBeforeRun(
  op: Pick<Operation, "mutates" | "destructive" | "tier">,
): boolean {
  return op.mutates || op.destructive || op.tier !== "observe";
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
 * Plans the call and digests the plan. A plan that cannot be written as
 * canonical JSON (arguments nested deeper than the audit allows) is refused
 * for this target like a plan the operation refuses, before anything runs.
 */
function digestedPlan(
  operation: Operation,
  args: Record<string, unknown>,
  target: Target,
): { plan: Plan; planDigest: string } | { error: OperationError } {
  const planned = planFor(operation, args, target);
  if ("error" in planned) return planned;
  try {
    return { plan: planned.plan, planDigest: sha256HexSync(canonicalJson(planned.plan)) };
  } catch (error) {
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    return {
      error: new OperationError(
        "bad_arguments",
        `The arguments of ${operation.name} cannot be recorded in the audit log: expected ` +
          `JSON values nested at most ${CANONICAL_MAX_DEPTH} levels deep`,
      ),
    };
  }
}

/**
 * Dry run of an operation that declares a check step: runs the check (a
 * command the operator wrote to predict the change, e.g. `nginx -t`) and
 * returns its plan and output. It ran, so it gets its own `finished` record.
 */
async function runCheck(
  deps: CallDeps,
  run: TargetRun,
  planDigest: string,
): Promise<Record<string, unknown>> {
  const { operation: op, target, base } = run;
  const started = performance.now();
  const checkPlan = op.checkPlan!(run.args as never, target);
  const outcome = await deps.executor.run(target, checkPlan, { signal: run.signal });
  const command = outcome.ok && outcome.result.kind === "exec"
    ? outcome.result.commands.at(-1)
    : undefined;
  const check: Record<string, unknown> = {
    plan: describePlan(checkPlan, target),
    ...(op.describeCheck ? op.describeCheck(outcome, run.args as never, target) : command
      ? {
        exit_code: command.exitCode,
        stdout: command.stdout,
        stderr: command.stderr,
        truncated: command.truncated,
      }
      : { error: outcome.ok ? { code: "bad_output", message: "No command ran" } : outcome.error }),
  };
  const output = canonicalJson(check);
  await deps.audit.append({
    ...base,
    event: "finished",
    status: outcome.ok && (command === undefined || command.exitCode === 0) ? "ok" : "error",
    exit_code: command?.exitCode ?? null,
    duration_ms: Math.round(performance.now() - started),
    output_bytes: new TextEncoder().encode(output).byteLength,
    output_digest: sha256HexSync(output),
    plan_digest: planDigest,
    detail: { dry_run: true, check: true },
  }, { durable: false });
  return check;
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
  const planned = digestedPlan(op, run.args, target);
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
  const { plan, planDigest } = planned;
  // The durability rule (DESIGN invariant 5): a call that changes nothing may
  // start once its `decided` record is written, and rides the group commit; a
  // call that may change something starts only once the record is synced.
  await deps.audit.append({
    ...base,
    event: "decided",
    args: run.redactedArgs,
    decision: "allow",
    rule,
    plan_digest: planDigest,
    detail: { dry_run: run.dryRun, ...approval },
  }, { durable: mustSyncBeforeRun(op) });
  if (run.dryRun) {
    const described = describePlan(plan, target);
    if (op.checkPlan) described.check = await runCheck(deps, run, planDigest);
    return {
      target: target.id,
      status: "planned",
      duration_ms: elapsed(),
      rule,
      plan: described,
    };
  }
  const onOutput = op.streamsOutput ? run.onOutput : undefined;
  const reserved = await reserveOutput(deps, run, plan, onOutput !== undefined);
  let entry: TargetResult;
  if ("refused" in reserved) {
    entry = { target: target.id, rule, duration_ms: elapsed(), ...reserved.refused };
  } else {
    const outcome = await deps.executor.run(target, plan, {
      signal: run.signal,
      onProgress: run.onProgress,
      ...(onOutput ? { onOutput } : {}),
    });
    const measured = outcome.ok ? measureResult(outcome.result) : undefined;
    // Held until the call's result is handed over: shrunk to what came back.
    if (measured) reserved.reservation?.shrink(measured.bytes);
    else reserved.reservation?.release();
    entry = resultEntry(op, outcome, { run, elapsed, tooDeep: measured?.tooDeep === true });
  }
  const output = outputDigest(entry);
  // Written before the result is returned, synced by the group commit without
  // the client waiting for it.
  // The call ran: if the log fails now, the client is told so, not "refused".
  return await recordFinished(deps, entry, {
    ...base,
    event: "finished",
    status: entry.status === "ok" ? "ok" : "error",
    exit_code: entry.exit_code ?? null,
    duration_ms: entry.duration_ms,
    output_bytes: output.bytes,
    output_digest: output.digest,
    plan_digest: planDigest,
    ...(entry.error ? { reason: entry.error.code } : {}),
    ...(run.approvalId ? { detail: approval } : {}),
  });
}

/**
 * Reserves the plan's worst-case output in the gateway's output budget,
 * waiting briefly when other calls hold it. The reservation goes to
 * `run.hold`, which releases it once the call's result is out.
 */
async function reserveOutput(
  deps: CallDeps,
  run: TargetRun,
  plan: Plan,
  streams: boolean,
): Promise<
  { reservation?: Reservation } | {
    refused: Pick<TargetResult, "status" | "error">;
  }
> {
  if (!deps.outputBudget) return {};
  try {
    const bound = planOutputBound(plan, run.target) + (streams ? STREAM_RESERVE_BYTES : 0);
    const reservation = await deps.outputBudget.reserve(bound, {
      waitMs: OUTPUT_BUDGET_WAIT_MS,
      signal: run.signal,
    });
    if (run.hold) run.hold(reservation);
    else reservation.release();
    return { reservation };
  } catch (error) {
    if (error instanceof BudgetBusyError) {
      return { refused: { status: "failed", error: { code: "busy", message: error.message } } };
    }
    if (!run.signal?.aborted) throw error;
    return {
      refused: {
        status: "cancelled",
        error: { code: "cancelled", message: "The call was cancelled before this target started" },
      },
    };
  }
}

/**
 * The target's entry for what the executor returned. Whatever the target
 * sent, this returns an entry (never throws), so every `decided` gets its
 * `finished` and a fan-out keeps its other targets' results.
 */
function resultEntry(
  op: Operation,
  outcome: ExecOutcome,
  context: { run: TargetRun; elapsed: () => number; tooDeep: boolean },
): TargetResult {
  const { run, elapsed } = context;
  const base = { target: run.target.id, rule: run.rule };
  if (!outcome.ok) {
    return {
      ...base,
      status: EXEC_STATUS[outcome.error.code] ?? "failed",
      duration_ms: elapsed(),
      error: outcome.error,
    };
  }
  const result = outcome.result;
  const last = result.kind === "exec" ? result.commands.at(-1) : undefined;
  const exit = last ? { exit_code: last.exitCode } : {};
  const failed = (error: { code: string; message: string }): TargetResult => ({
    ...base,
    status: "failed",
    duration_ms: elapsed(),
    ...exit,
    error,
  });
  if (context.tooDeep) {
    // The workers refuse deep JSON before parsing; this catches any other way in.
    return failed({
      code: "bad_output",
      message: tooDeepMessage(
        `The output of ${op.name} on target ${JSON.stringify(run.target.id)}`,
      ),
    });
  }
  const truncated = result.kind === "exec"
    ? result.commands.some((c) => c.truncated)
    : "truncated" in result && result.truncated === true;
  try {
    // Parsers add a few levels at most, well inside what the audit digest allows.
    const data = op.parse(result, run.args as never);
    return {
      ...base,
      status: "ok",
      duration_ms: elapsed(),
      data,
      ...exit,
      ...(truncated ? { truncated } : {}),
    };
  } catch (error) {
    if (error instanceof OperationError) {
      return failed({ code: error.code, message: error.message });
    }
    log.error("Parser of {tool} failed: {error}", { tool: op.name, error: String(error) });
    return failed({
      code: "bad_output",
      message: `The output of ${op.name} could not be understood`,
    });
  }
}

/** What the `finished` record digests: the data or the error, as canonical JSON. */
function outputDigest(entry: TargetResult): { digest: string; bytes: number } {
  try {
    return canonicalJsonDigest(entry.data ?? entry.error ?? null);
  } catch (error) {
    // Not representable (a number JSON cannot hold): digest a stand-in that says so.
    return canonicalJsonDigest({ unrepresentable: String(error).slice(0, 200) });
  }
}
