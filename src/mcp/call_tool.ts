/**
 * One tool call from start to end: resolve targets, rate-limit, ask the gate
 * per target, settle approvals, then plan, audit, run and audit each target
 * with bounded parallelism. Transport-agnostic: no SDK or Hono imports.
 *
 * @module
 */
import type { Registry } from "../config/registry.ts";
import type { Target } from "../config/targets_schema.ts";
import type { Reservation } from "../exec/byte_budget.ts";
import type { OutputChunk } from "../exec/protocol.ts";
import { couldUse, decide, type Decision, type Identity, tierOf } from "../gate/mod.ts";
import { strictestTerms } from "../gate/approval_terms.ts";
import { rateLimitReason } from "../gate/rate_limit.ts";
import { StateUnavailableError } from "../state/state_error.ts";
import type { Operation } from "../ops/operation.ts";
import { approvalInfo, recordApproval, requestApproval, rulePhrase } from "./approval_flow.ts";
import {
  type ApprovalInfo,
  batchSize,
  type BatchSummary,
  DEFAULT_FORKS,
  DEFAULT_MAX_FORKS,
  ENVELOPE_KEYS,
  type TargetResult,
  type ToolResult,
} from "./envelope.ts";
import { renderText } from "./render_text.ts";
import { type AuditBase, runTarget } from "./_run_target.ts";
import { isAuditError } from "./_record_finished.ts";
import type { CallDeps } from "./call_deps.ts";
import { selectionHint } from "./_close_matches.ts";
import { answerListTargets } from "./list_targets.ts";

export type { AuditAppender, CallDeps } from "./call_deps.ts";

/** One call. */
export interface CallRequest {
  readonly identity: Identity;
  readonly operation: Operation;
  /** Arguments validated against the tool's input schema. */
  readonly args: Readonly<Record<string, unknown>>;
  readonly signal?: AbortSignal;
  /** Called after each target finishes. */
  readonly onProgress?: (done: number, total: number, message: string) => void;
  /**
   * Hears, per target, the output of an operation that streams it
   * (`streamsOutput`) while the command runs; unscrubbed bytes.
   */
  readonly onOutput?: (target: string, chunk: OutputChunk) => void;
  /**
   * How a rule's `confirm` question is settled inside the call: `ask` when
   * the client can be asked (the call then ends with {@linkcode CallOutcome.confirm}
   * and nothing runs), `answer` when the requester answered for a pending
   * approval this gateway asked about. Without it, such a call needs an
   * approval out of band, as any other.
   */
  readonly confirmation?: Confirmation;
}

/** See {@linkcode CallRequest.confirmation}. */
export type Confirmation =
  | { readonly kind: "ask" }
  | { readonly kind: "answer"; readonly approvalId: string; readonly accepted: boolean };

/** A finished call: the structured result, its text rendering, and whether it failed. */
export interface CallOutcome {
  readonly result: ToolResult;
  readonly text: string;
  readonly isError: boolean;
  /**
   * Set when the call stopped to ask the requester (`confirmation: ask`):
   * the pending approval, the question, and when it expires. Nothing ran.
   */
  readonly confirm?: {
    readonly approvalId: string;
    readonly message: string;
    readonly expires: Date;
  };
}

/** A call that could not start at all (no targets, bad selection, rate limit). */
export class CallError extends Error {
  /** Stable code. */
  readonly code: string;

  /**
   * @param code Stable code.
   * @param message A sentence for the client.
   */
  constructor(code: string, message: string) {
    super(message);
    this.name = "CallError";
    this.code = code;
  }
}

/** Runs a step that needs shared state; an unreachable database refuses the call, saying so. */
async function sharedState<T>(step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof StateUnavailableError) {
      throw new CallError("shared_state_unavailable", error.message);
    }
    throw error;
  }
}

/**
 * Takes one call from the caller's tier budget, or refuses the call with
 * `rate_limited` (MCP resource reads take theirs from the observe tier here too).
 *
 * @param deps The rate limiter, if any.
 * @param call The caller's subject, the tier and the current instant.
 * @throws {CallError} `rate_limited`, when the budget is spent.
 * @throws {CallError} `shared_state_unavailable`, when the shared state database cannot be reached.
 */
export async function limitRate(
  deps: CallDeps,
  call: { subject: string; tier: Operation["tier"]; now: Date },
): Promise<void> {
  if (!deps.rateLimiter) return;
  const verdict = await sharedState(() =>
    deps.rateLimiter!.take({ subject: call.subject, tier: call.tier }, call.now)
  );
  if (!verdict.ok) {
    throw new CallError(
      "rate_limited",
      rateLimitReason({ tier: call.tier, retryAfterMs: verdict.retryAfterMs }),
    );
  }
}

function selectTargets(
  registry: Registry,
  args: Readonly<Record<string, unknown>>,
  visible: () => readonly Target[],
): Target[] {
  const one = args.target as string | undefined;
  const raw = args.targets as string | string[] | undefined;
  const many = typeof raw === "string" ? [raw] : raw;
  if (one !== undefined && many !== undefined) {
    throw new CallError("bad_selection", "Give either target or targets, not both");
  }
  if (one !== undefined) {
    const target = registry.get(one);
    if (!target) {
      throw new CallError(
        "unknown_target",
        `No target has the id ${JSON.stringify(one)}${selectionHint(one, visible())}`,
      );
    }
    return [target];
  }
  if (many !== undefined) {
    const selected = registry.select(many);
    if (selected.length === 0) {
      throw new CallError(
        "no_targets",
        `No target matches ${JSON.stringify(many)}${selectionHint(many, visible())}`,
      );
    }
    return selected;
  }
  if (registry.targets.length === 1) return [registry.targets[0]];
  throw new CallError(
    "bad_selection",
    `Expected target or targets: this gateway has ${registry.targets.length} targets`,
  );
}

function summarize(results: readonly TargetResult[]): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const parts = [...counts].map(([status, n]) => `${n} ${status}`);
  return `${results.length} target${results.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}

type AskDecision = Extract<Decision, { kind: "approval_required" }>;

/** The block code of a call stopped to ask its requester to confirm. */
const CONFIRM = "approval_confirm";

/** Why the runnable targets of a call do not run (approval missing, refused or declined). */
type Block = { code: string; message: string; approval?: ApprovalInfo };

async function settleApproval(
  deps: CallDeps,
  request: CallRequest,
  context: {
    runnable: Target[];
    args: Record<string, unknown>;
    /** The runnable targets' decisions, in the same order. */
    decisions: Exclude<Decision, { kind: "deny" }>[];
    now: Date;
  },
): Promise<{ approvalId: string } | Block> {
  const { identity, operation } = request;
  const approvals = deps.approvals;
  const on = `"${operation.name}" on ${context.runnable.map((t) => `"${t.id}"`).join(", ")}`;
  // Every rule that asks for approval is met at once: the strictest terms of
  // them all, so a lenient rule on one target never lends its leniency to another.
  const asking = context.decisions.filter((d): d is AskDecision => d.kind === "approval_required");
  const rule = asking[0].rule;
  const phrase = rulePhrase(asking.map((d) => d.rule));
  const rules = Object.fromEntries(
    context.runnable.map((t, i) => [t.id, context.decisions[i].rule]),
  );
  const terms = strictestTerms(asking.map((d) => d.approval));
  if (!approvals) {
    return {
      code: "approval_unavailable",
      message:
        `${on} needs approval under policy ${phrase}, and approvals are not enabled on this gateway`,
    };
  }
  const call = {
    requester: identity.subject,
    tool: operation.name,
    targets: context.runnable.map((t) => t.id),
    args: context.args,
    now: context.now,
  };
  const consume = async (id: string) => {
    const used = await approvals.store.consume(id, call);
    if (used.audit) await recordApproval(approvals, used.audit);
    return used.ok ? { approvalId: id } : { code: `approval_${used.code}`, message: used.reason };
  };
  const grant = request.args.approval_grant as string | undefined;
  if (grant !== undefined) {
    if (!approvals.grantKeys) {
      return { code: "approval_bad_grant", message: "This gateway has no key to verify grants" };
    }
    const redeemed = await approvals.store.redeemGrant(grant, {
      ...call,
      publicKey: approvals.grantKeys,
    });
    if (!redeemed.ok) return { code: `approval_${redeemed.code}`, message: redeemed.reason };
    await recordApproval(approvals, redeemed.audit);
    return { approvalId: redeemed.grant.approval_id };
  }
  const confirmation = request.confirmation;
  if (confirmation?.kind === "answer") {
    const now = deps.now?.() ?? new Date();
    const id = confirmation.approvalId;
    if (!confirmation.accepted) {
      const denied = await approvals.store.deny(id, identity.subject, {
        reason: "declined by the requester",
        now,
      });
      if (denied.audit) await recordApproval(approvals, denied.audit);
      return { code: "approval_declined", message: `You declined to confirm ${on}; nothing ran` };
    }
    const granted = await approvals.store.approve(id, identity.subject, { now });
    if (granted.audit) await recordApproval(approvals, granted.audit);
    // Not pending any more (approved, used or expired): consuming says which.
    if (!granted.ok && granted.code !== "not_pending") {
      return { code: `approval_${granted.code}`, message: granted.reason };
    }
    return await consume(id);
  }
  const presented = request.args.approval_id as string | undefined;
  if (presented !== undefined) return await consume(presented);
  const approval = await requestApproval(approvals, {
    identity,
    operation,
    targets: context.runnable,
    args: context.args,
    rule,
    rules,
    terms,
    now: context.now,
  });
  if (approval.confirm && confirmation?.kind === "ask") {
    return {
      code: CONFIRM,
      message: `Policy ${phrase} asks you to confirm: run ${on}? Approval ${approval.id}.`,
      approval: approvalInfo(approval),
    };
  }
  return {
    code: "approval_required",
    message: `${on} needs approval ${approval.id} under policy ${phrase}; nothing ran`,
    approval: approvalInfo(approval),
  };
}

/**
 * How many failures stop a call from starting more targets: `max_failures`,
 * `fail_fast` (1), and `max_fail_percentage` (more than that share of the
 * targets), whichever comes first.
 *
 * @param args The envelope.
 * @param count Targets selected.
 * @returns The failure count at which no further target starts.
 */
export function failureLimit(args: Record<string, unknown>, count: number): number {
  const limits = [
    (args.max_failures as number | undefined) ?? (args.fail_fast === true ? 1 : Infinity),
  ];
  const pct = args.max_fail_percentage as number | undefined;
  if (pct !== undefined) limits.push(Math.floor((count * pct) / 100) + 1);
  return Math.min(...limits);
}

/** Per-batch counts of a `serial` call's results. */
function summarizeBatches(results: readonly TargetResult[]): BatchSummary[] {
  const batches: BatchSummary[] = [];
  for (const r of results) {
    const n = r.batch ?? 1;
    const b = batches[n - 1] ??= { batch: n, targets: [], ok: 0, failed: 0, skipped: 0 };
    b.targets.push(r.target);
    if (r.status === "ok" || r.status === "planned") b.ok++;
    else if (r.status === "skipped" || r.status === "cancelled") b.skipped++;
    else b.failed++;
  }
  return batches.filter(Boolean);
}

/**
 * Runs one tool call end to end.
 *
 * @param deps The gateway's registry, policy, executor, audit log and approvals.
 * @param request Who, what, with which arguments.
 * @returns Per-target results and a text rendering.
 * @throws {CallError} When no target can be selected or the caller is over its rate limit.
 * @throws {AuditError} When the audit log cannot be written and no target ran; a
 * target that ran keeps its result (with a `warning` when its end is not recorded).
 */
export async function callTool(deps: CallDeps, request: CallRequest): Promise<CallOutcome> {
  const { identity, operation: op, args, signal } = request;
  const now = deps.now?.() ?? new Date();
  if (op.visibleWith) {
    await limitRate(deps, { subject: identity.subject, tier: op.tier, now });
    const answer = await answerListTargets(deps, request);
    if ("refused" in answer) throw new CallError(answer.refused.code, answer.refused.message);
    return answer;
  }
  // Names suggested in a selection error come only from targets this caller could use this tool on.
  const visible = () =>
    deps.registry.targets.filter((target) =>
      couldUse({ identity, operation: op, target }, deps.policy)
    );
  const targets = selectTargets(deps.registry, args, visible);
  const opArgs = Object.fromEntries(
    Object.entries(args).filter(([k]) => !ENVELOPE_KEYS.includes(k)),
  );
  const dryRun = args.dry_run === true;
  const capability = op.capabilityFor ? op.capabilityFor(opArgs as never) : op.capability;
  const facts = capability === op.capability ? op : { ...op, capability, tier: tierOf(capability) };
  await limitRate(deps, { subject: identity.subject, tier: facts.tier, now });
  const decisions = targets.map((target) =>
    decide({ identity, operation: facts, target, args: opArgs, now }, deps.policy)
  );
  const runnable = targets.filter((_, i) => decisions[i].kind !== "deny");
  const runnableDecisions = decisions.filter((d): d is Exclude<Decision, { kind: "deny" }> =>
    d.kind !== "deny"
  );
  let settled: { approvalId: string } | Block | undefined;
  if (runnableDecisions.some((d) => d.kind === "approval_required") && !dryRun) {
    settled = await sharedState(() =>
      settleApproval(deps, request, {
        runnable,
        args: opArgs,
        decisions: runnableDecisions,
        now,
      })
    );
  }
  const block = settled && "code" in settled ? settled : undefined;
  if (block?.code === CONFIRM && block.approval) {
    // Asked, not refused: the answer comes with the next request (maybe on
    // another gateway process), which settles the approval and runs the call.
    const result: ToolResult = {
      tool: op.name,
      dry_run: false,
      summary: block.message,
      approval: block.approval,
      results: [],
    };
    return {
      result,
      text: deps.scrub(block.message),
      isError: true,
      confirm: {
        approvalId: block.approval.id,
        message: deps.scrub(block.message),
        expires: new Date(block.approval.expires),
      },
    };
  }
  const approvalId = settled && "approvalId" in settled ? settled.approvalId : undefined;

  const fanout = targets.length > 1 ? crypto.randomUUID() : undefined;
  // Some arguments are audited by digest only (file_write's content).
  const redactedArgs = deps.redact(op.auditArgs ? op.auditArgs(opArgs as never) : opArgs);
  const forks = Math.min(
    (args.forks as number | undefined) ?? DEFAULT_FORKS,
    deps.maxForks ?? DEFAULT_MAX_FORKS,
  );
  const maxFailures = failureLimit(args, targets.length);
  const results: TargetResult[] = new Array(targets.length);
  // Output memory the targets reserved, given back once the result is built.
  const held: Reservation[] = [];
  let failures = 0;
  let done = 0;
  let next = 0;
  let auditFailure: Error | undefined;
  // Progress must only grow: a finished target counts 1, and each step reported while
  // targets run moves it a little closer to the next whole number, never past it.
  let steps = 0;
  let reported = 0;
  const report = (progress: number, message: string) => {
    if (progress <= reported) return;
    reported = progress;
    request.onProgress?.(progress, targets.length, message);
  };
  const step = (message: string) => report(done + 1 - 1 / (++steps + 1), message);

  // A target whose `decided` (or `denied`) record cannot be written does not
  // run; targets that already ran keep their results.
  const oneTarget = async (index: number): Promise<TargetResult> => {
    try {
      return await oneTargetAudited(index);
    } catch (error) {
      if (!isAuditError(error)) throw error;
      auditFailure ??= error;
      return {
        target: targets[index].id,
        status: "skipped",
        duration_ms: 0,
        error: {
          code: "audit_unavailable",
          message: "Not run: the audit log cannot be written, so the gateway runs no calls",
        },
      };
    }
  };

  const oneTargetAudited = async (index: number): Promise<TargetResult> => {
    const target = targets[index];
    const decision = decisions[index];
    const base: AuditBase = {
      identity: identity.subject,
      tool: op.name,
      target: target.id,
      fanout,
      call: crypto.randomUUID(),
    };
    if (decision.kind === "deny" || block) {
      const error = decision.kind === "deny"
        ? { code: decision.code, message: decision.reason }
        : block!;
      const status: TargetResult["status"] = decision.kind === "deny"
        ? "denied"
        : decision.kind === "approval_required"
        ? "approval_required"
        : "skipped";
      await deps.audit.append({
        ...base,
        event: "denied",
        args: redactedArgs,
        decision: decision.kind,
        ...(decision.rule ? { rule: decision.rule } : {}),
        reason: error.code,
        detail: { dry_run: dryRun, ...(block?.approval ? { approval_id: block.approval.id } : {}) },
      });
      return {
        target: target.id,
        status,
        duration_ms: 0,
        ...(decision.rule ? { rule: decision.rule } : {}),
        error: { code: error.code, message: error.message },
      };
    }
    return await runTarget(deps, {
      operation: op,
      target,
      args: opArgs,
      redactedArgs,
      rule: decision.rule,
      dryRun,
      base,
      approvalId,
      signal,
      onProgress: request.onProgress && ((message) => step(`${target.id}: ${message}`)),
      onOutput: request.onOutput && ((chunk) => request.onOutput!(target.id, chunk)),
      hold: (reservation) => held.push(reservation),
    });
  };

  // Rollout batches (`serial`): a batch starts when the one before it has finished.
  const perBatch = batchSize(args.serial as number | string | undefined, targets.length);
  const batchCount = Math.ceil(targets.length / perBatch);
  let limit = 0;
  let batch = 0;
  const worker = async () => {
    while (next < limit) {
      const index = next++;
      const target = targets[index];
      if ((failures >= maxFailures || signal?.aborted) && decisions[index].kind !== "deny") {
        results[index] = {
          target: target.id,
          status: signal?.aborted ? "cancelled" : "skipped",
          duration_ms: 0,
          error: signal?.aborted
            ? { code: "cancelled", message: "The call was cancelled before this target started" }
            : { code: "skipped", message: `Not started: ${failures} target(s) failed first` },
        };
      } else {
        results[index] = await oneTarget(index);
        const status = results[index].status;
        if (status !== "ok" && status !== "planned" && status !== "denied") failures++;
      }
      if (args.serial !== undefined) results[index].batch = batch;
      done++;
      const where = args.serial !== undefined ? `batch ${batch}/${batchCount}: ` : "";
      report(done, `${where}${target.id}: ${results[index].status}`);
    }
  };
  try {
    for (let start = 0; start < targets.length; start += perBatch) {
      batch++;
      limit = Math.min(targets.length, start + perBatch);
      await Promise.all(Array.from({ length: Math.min(forks, limit - start) }, worker));
    }
    // Nothing ran because of the log: the call as a whole is refused, as before any target.
    if (auditFailure && results.every((r) => r.error?.code === "audit_unavailable")) {
      throw auditFailure;
    }
    return finish(deps, op, { dryRun, fanout, block, results, serial: args.serial !== undefined });
  } finally {
    for (const reservation of held) reservation.release();
  }
}

/** The call's result, scrubbed of known secrets, and its text. */
function finish(
  deps: CallDeps,
  op: Operation,
  call: {
    dryRun: boolean;
    fanout: string | undefined;
    block: Block | undefined;
    results: TargetResult[];
    /** The call gave `serial`: report per-batch counts. */
    serial: boolean;
  },
): CallOutcome {
  const { dryRun, fanout, block, results } = call;
  const oks = results.filter((r) => r.status === "ok").map((r) => ({
    target: r.target,
    data: r.data,
  }));
  const aggregate = op.aggregate && oks.length > 1 ? op.aggregate(oks as never) : undefined;
  const result: ToolResult = {
    tool: op.name,
    dry_run: dryRun,
    summary: summarize(results),
    ...(fanout ? { fanout_id: fanout } : {}),
    ...(block?.approval ? { approval: block.approval } : {}),
    ...(aggregate ? { aggregate: aggregate.data } : {}),
    results,
    ...(call.serial ? { batches: summarizeBatches(results) } : {}),
  };
  const isError = !results.some((r) => r.status === "ok" || r.status === "planned");
  const text = renderText(op, result);
  return {
    // String by string, so a large output is not copied whole into one JSON
    // text and parsed back (the scanner sees each string as it leaves).
    result: scrubValue(result, deps.scrub) as ToolResult,
    text: deps.scrub(aggregate ? `${aggregate.text}\n${text}` : text),
    isError,
  };
}

/**
 * A JSON value with every string (keys too) passed through `scrub`.
 * Copy-on-write: a container is copied only when something inside it
 * changed (a secret found, or `undefined`/`NaN` made JSON-like), so a large
 * output is neither copied nor mutated in the usual case. Results are at
 * most `MAX_OUTPUT_DEPTH` (128) levels deep plus the envelope, so recursion
 * is safe.
 */
function scrubValue(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === "string") return scrub(value);
  if (value === null || typeof value !== "object") {
    return typeof value === "number" && !Number.isFinite(value) ? null : value;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      const next = item === undefined ? null : scrubValue(item, scrub);
      if (next !== item) (copy ??= value.slice())[i] = next;
    }
    return copy ?? value;
  }
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const item = record[key];
    const next = item === undefined ? undefined : scrubValue(item, scrub);
    const name = scrub(key);
    if (name === key && next === item && item !== undefined) continue;
    copy ??= { ...record };
    if (name !== key || next === undefined) delete copy[key];
    if (next !== undefined) copy[name] = next;
  }
  return copy ?? record;
}
