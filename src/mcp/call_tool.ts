/**
 * One tool call from start to end: resolve targets, ask the gate per target,
 * audit the decision, plan, run in the executor, audit the end, and shape the
 * per-target results. Transport-agnostic: no SDK or Hono imports.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Registry } from "../config/registry.ts";
import type { Target } from "../config/targets_schema.ts";
import type { ExecOutcome } from "../exec/host.ts";
import type { Plan } from "../exec/plan.ts";
import { type CompiledPolicy, decide, type Identity } from "../gate/mod.ts";
import { type Operation, OperationError } from "../ops/operation.ts";
import { canonicalJson, sha256Hex } from "../audit/canonical_json.ts";
import type { AuditEntry } from "../audit/record.ts";
import {
  DEFAULT_FORKS,
  DEFAULT_MAX_FORKS,
  ENVELOPE_KEYS,
  type TargetResult,
  type ToolResult,
} from "./envelope.ts";
import { describePlan } from "./describe_plan.ts";

const log = getLogger(["tailops", "call"]);

/** Where audit records go. Must reject when a record cannot be made durable. */
export interface AuditAppender {
  /** Appends one record; the log adds seq, time and hashes. */
  append(entry: AuditEntry): Promise<unknown>;
}

/** What a call needs from the rest of the gateway. */
export interface CallDeps {
  readonly registry: Registry;
  readonly policy: CompiledPolicy;
  readonly executor: {
    run(target: Target, plan: Plan, options?: { signal?: AbortSignal }): Promise<ExecOutcome>;
  };
  readonly audit: AuditAppender;
  /** Redacts arguments for the audit log. */
  readonly redact: (value: unknown) => Record<string, unknown>;
  /** Removes known secret values from text that leaves the gateway. */
  readonly scrub: (text: string) => string;
  /** Ceiling for `forks`. */
  readonly maxForks?: number;
}

/** One call. */
export interface CallRequest {
  readonly identity: Identity;
  readonly operation: Operation;
  /** Arguments validated against the tool's input schema. */
  readonly args: Readonly<Record<string, unknown>>;
  readonly signal?: AbortSignal;
  /** Called after each target finishes. */
  readonly onProgress?: (done: number, total: number, message: string) => void;
}

/** A finished call: the structured result, its text rendering, and whether it failed. */
export interface CallOutcome {
  readonly result: ToolResult;
  readonly text: string;
  readonly isError: boolean;
}

/** A call that could not start at all (no targets, bad selection). */
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

function selectTargets(registry: Registry, args: Readonly<Record<string, unknown>>): Target[] {
  const one = args.target as string | undefined;
  const many = args.targets as string[] | undefined;
  if (one !== undefined && many !== undefined) {
    throw new CallError("bad_selection", "Give either target or targets, not both");
  }
  if (one !== undefined) {
    const target = registry.get(one);
    if (!target) {
      throw new CallError("unknown_target", `No target has the id ${JSON.stringify(one)}`);
    }
    return [target];
  }
  if (many !== undefined) {
    const selected = registry.select(many);
    if (selected.length === 0) {
      throw new CallError("no_targets", `No target matches ${JSON.stringify(many)}`);
    }
    return selected;
  }
  if (registry.targets.length === 1) return [registry.targets[0]];
  throw new CallError(
    "bad_selection",
    `Expected target or targets: this gateway has ${registry.targets.length} targets`,
  );
}

function operationArgs(args: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([key]) => !ENVELOPE_KEYS.includes(key)));
}

const EXEC_STATUS: Record<string, TargetResult["status"]> = {
  timeout: "timeout",
  unreachable: "unreachable",
  cancelled: "cancelled",
};

/**
 * Runs one tool call end to end.
 *
 * @param deps The gateway's registry, policy, executor and audit log.
 * @param request Who, what, with which arguments.
 * @returns Per-target results and a text rendering.
 * @throws {CallError} When no target can be selected from the arguments.
 */
export async function callTool(deps: CallDeps, request: CallRequest): Promise<CallOutcome> {
  const { identity, operation: op, args, signal } = request;
  const targets = selectTargets(deps.registry, args);
  const opArgs = operationArgs(args);
  const dryRun = args.dry_run === true;
  const capability = op.capabilityFor ? op.capabilityFor(opArgs as never) : op.capability;
  const facts = capability === op.capability ? op : { ...op, capability, tier: op.tier };
  const fanout = targets.length > 1 ? crypto.randomUUID() : undefined;
  const redactedArgs = deps.redact(opArgs);
  const forks = Math.min(
    (args.forks as number | undefined) ?? DEFAULT_FORKS,
    deps.maxForks ?? DEFAULT_MAX_FORKS,
  );
  const failFast = args.fail_fast === true;
  const maxFailures = (args.max_failures as number | undefined) ?? (failFast ? 1 : Infinity);

  const results: TargetResult[] = new Array(targets.length);
  let failures = 0;
  let done = 0;
  let next = 0;

  const runOne = async (target: Target): Promise<TargetResult> => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const call = crypto.randomUUID();
    const base = { identity: identity.subject, tool: op.name, target: target.id, fanout, call };
    const decision = decide({ identity, operation: facts, target, args: opArgs }, deps.policy);
    if (decision.kind !== "allow") {
      const error = decision.kind === "deny" ? { code: decision.code, message: decision.reason } : {
        code: "approval_required",
        message:
          `"${op.name}" on target "${target.id}" needs a human's approval under policy rule "${decision.rule}", and approvals are not enabled on this gateway`,
      };
      await deps.audit.append({
        ...base,
        event: "denied",
        args: redactedArgs,
        decision: decision.kind,
        rule: decision.rule,
        reason: error.code,
        detail: { dry_run: dryRun },
      });
      return {
        target: target.id,
        status: decision.kind === "deny" ? "denied" : "approval_required",
        duration_ms: elapsed(),
        ...(decision.rule ? { rule: decision.rule } : {}),
        error,
      };
    }
    let plan: Plan;
    try {
      plan = op.plan(opArgs as never, target);
    } catch (error) {
      if (!(error instanceof OperationError)) throw error;
      await deps.audit.append({
        ...base,
        event: "denied",
        args: redactedArgs,
        decision: "allow",
        rule: decision.rule,
        reason: error.code,
        detail: { dry_run: dryRun },
      });
      return {
        target: target.id,
        status: "failed",
        duration_ms: elapsed(),
        rule: decision.rule,
        error: { code: error.code, message: error.message },
      };
    }
    const planDigest = await sha256Hex(canonicalJson(plan));
    await deps.audit.append({
      ...base,
      event: "decided",
      args: redactedArgs,
      decision: "allow",
      rule: decision.rule,
      plan_digest: planDigest,
      detail: { dry_run: dryRun },
    });
    if (dryRun) {
      return {
        target: target.id,
        status: "planned",
        duration_ms: elapsed(),
        rule: decision.rule,
        plan: describePlan(plan, target),
      };
    }
    const outcome = await deps.executor.run(target, plan, { signal });
    let entry: TargetResult;
    if (!outcome.ok) {
      entry = {
        target: target.id,
        status: EXEC_STATUS[outcome.error.code] ?? "failed",
        duration_ms: elapsed(),
        rule: decision.rule,
        error: outcome.error,
      };
    } else {
      const last = outcome.result.kind === "exec" ? outcome.result.commands.at(-1) : undefined;
      try {
        const data = op.parse(outcome.result, opArgs as never);
        entry = {
          target: target.id,
          status: "ok",
          duration_ms: elapsed(),
          rule: decision.rule,
          data,
          ...(last ? { exit_code: last.exitCode } : {}),
          ...("truncated" in outcome.result && outcome.result.truncated ? { truncated: true } : {}),
          ...(outcome.result.kind === "exec" && outcome.result.commands.some((c) => c.truncated)
            ? { truncated: true }
            : {}),
        };
      } catch (error) {
        if (!(error instanceof OperationError)) {
          log.error("Parser of {tool} failed: {error}", { tool: op.name, error: String(error) });
        }
        entry = {
          target: target.id,
          status: "failed",
          duration_ms: elapsed(),
          rule: decision.rule,
          ...(last ? { exit_code: last.exitCode } : {}),
          error: error instanceof OperationError
            ? { code: error.code, message: error.message }
            : { code: "bad_output", message: `The output of ${op.name} could not be understood` },
        };
      }
    }
    const output = canonicalJson(entry.data ?? entry.error ?? null);
    await deps.audit.append({
      ...base,
      event: "finished",
      status: entry.status === "ok" ? "ok" : "error",
      exit_code: entry.exit_code ?? null,
      duration_ms: entry.duration_ms,
      output_bytes: new TextEncoder().encode(output).byteLength,
      output_digest: await sha256Hex(output),
      plan_digest: planDigest,
      ...(entry.error ? { reason: entry.error.code } : {}),
    });
    return entry;
  };

  const worker = async () => {
    while (next < targets.length) {
      const index = next++;
      const target = targets[index];
      if (failures >= maxFailures || signal?.aborted) {
        results[index] = {
          target: target.id,
          status: signal?.aborted ? "cancelled" : "skipped",
          duration_ms: 0,
          error: signal?.aborted
            ? { code: "cancelled", message: "The call was cancelled before this target started" }
            : { code: "skipped", message: `Not started: ${failures} target(s) failed first` },
        };
      } else {
        results[index] = await runOne(target);
        if (!["ok", "planned"].includes(results[index].status)) failures++;
      }
      done++;
      request.onProgress?.(done, targets.length, `${target.id}: ${results[index].status}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(forks, targets.length) }, worker));

  const result: ToolResult = {
    tool: op.name,
    dry_run: dryRun,
    summary: summarize(results),
    ...(fanout ? { fanout_id: fanout } : {}),
    results,
  };
  const isError = !results.some((r) => r.status === "ok" || r.status === "planned");
  const text = deps.scrub(renderText(op, result));
  const scrubbed = deps.scrub(JSON.stringify(result));
  return { result: JSON.parse(scrubbed) as ToolResult, text, isError };
}

function summarize(results: readonly TargetResult[]): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const parts = [...counts].map(([status, n]) => `${n} ${status}`);
  return `${results.length} target${results.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}

const MAX_TEXT = 16_000;

function renderText(op: Operation, result: ToolResult): string {
  const lines: string[] = [];
  const single = result.results.length === 1;
  if (!single) lines.push(result.summary);
  for (const r of result.results) {
    const head = single ? "" : `[${r.status}] ${r.target} (${r.duration_ms} ms)`;
    let body: string;
    if (r.status === "ok") body = op.render(r.data as never);
    else if (r.status === "planned") {
      body = `Dry run, nothing was run. Plan:\n${JSON.stringify(r.plan, null, 2)}`;
    } else {body = `${r.status === "denied" ? "Denied" : "Failed"} (${
        r.error?.code ?? r.status
      }): ${r.error?.message ?? ""}`;}
    lines.push(single ? body : `${head}\n${indent(body)}`);
  }
  const text = lines.join("\n");
  return text.length > MAX_TEXT
    ? `${text.slice(0, MAX_TEXT)}\n… (text cut; the structured result is complete)`
    : text;
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}
