/**
 * How many bytes of output a plan may leave in memory, before it runs (its
 * caps) and after (what came back): the amounts a call reserves in the
 * gateway's {@linkcode ByteBudget}.
 *
 * @module
 */
import type { Target } from "../config/targets_schema.ts";
import { ByteBudget } from "./byte_budget.ts";
import { MAX_OUTPUT_DEPTH, type Plan, type PlanResult } from "./plan.ts";
import { OUTPUT_PENDING_MAX } from "./protocol.ts";

/**
 * Output memory all calls in the gateway may reserve at once. With the
 * largest output cap (16 MiB) that is four programs' stdout and stderr both
 * full, or sixteen full HTTP responses; the rest wait.
 */
export const OUTPUT_BUDGET_BYTES = 128 * 1024 * 1024;

/** How long a call waits for output memory before it is refused as busy. */
export const OUTPUT_BUDGET_WAIT_MS = 10_000;

/**
 * The gateway's one output budget.
 *
 * @param bytes Its size (default {@linkcode OUTPUT_BUDGET_BYTES}).
 * @returns A new budget.
 */
export function outputBudget(bytes: number = OUTPUT_BUDGET_BYTES): ByteBudget {
  return new ByteBudget(bytes);
}

/**
 * What streaming a run's output adds while it runs: the bytes its worker
 * holds between two messages, on both streams, and their copy on the way to
 * the client (text takes up to two bytes a character).
 */
export const STREAM_RESERVE_BYTES: number = 2 * 2 * OUTPUT_PENDING_MAX;

/**
 * The most output bytes a plan can bring back: its cap per stream and
 * program for exec plans, the response cap for HTTP targets, the cap
 * otherwise.
 *
 * @param plan The plan.
 * @param target Its target.
 * @returns Bytes.
 */
export function planOutputBound(plan: Plan, target: Target): number {
  const cap = plan.outputCapBytes;
  switch (plan.kind) {
    case "exec":
      return cap * 2 * (plan.mode === "all" ? plan.commands.length : 1);
    case "http":
      return target.type === "http" ? Math.min(cap, target.connection.response_cap_bytes) : cap;
    default:
      return cap;
  }
}

/**
 * One walk over a result (no recursion): roughly the bytes it takes (its
 * strings' lengths, two bytes per character as V8 may hold them, plus a
 * little per value) and whether it nests deeper than `maxDepth`.
 *
 * @param result What the executor returned.
 * @param maxDepth Deepest nesting allowed, the result itself counting as one
 *   level (default: {@linkcode MAX_OUTPUT_DEPTH} inside the result and a list of values).
 * @returns Bytes (an estimate) and whether it is too deep.
 */
export function measureResult(
  result: PlanResult,
  maxDepth: number = MAX_OUTPUT_DEPTH + 2,
): { bytes: number; tooDeep: boolean } {
  let bytes = 0;
  // Containers only go on the stacks; scalars are counted where they are found.
  const nodes: object[] = [result];
  const depths: number[] = [1];
  let depth = 0;
  const count = (value: unknown) => {
    if (typeof value === "string") bytes += 2 * value.length + 16;
    else if (value !== null && typeof value === "object") {
      nodes.push(value);
      depths.push(depth + 1);
    } else bytes += 8;
  };
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    depth = depths.pop()!;
    if (depth > maxDepth) return { bytes, tooDeep: true };
    bytes += 32;
    if (Array.isArray(node)) {
      for (const item of node) count(item);
    } else {
      for (const key in node) {
        bytes += key.length;
        count((node as Record<string, unknown>)[key]);
      }
    }
  }
  return { bytes, tooDeep: false };
}
