/**
 * The call an approval binds to, and its binding hash.
 *
 * Private to `src/gate`; import from `approvals.ts`.
 *
 * @module
 */
import { canonicalJson, type JsonValue, sha256Hex } from "../audit/canonical_json.ts";
import type { ApprovalRecord } from "./_approval_store.ts";

/** Arguments that steer the gateway rather than the operation; they are not bound. */
export const BINDING_EXCLUDED_ARGS: readonly string[] = [
  "dry_run",
  "approval_id",
  "approval_grant",
];

/** The call an approval is for. */
export interface ApprovalCall {
  /** The requester's identity subject. */
  readonly requester: string;
  /** Tool (operation) name. */
  readonly tool: string;
  /** Target ids, in any order. */
  readonly targets: readonly string[];
  /** The call's validated arguments; `dry_run` and `approval_id` are ignored. */
  readonly args: Readonly<Record<string, unknown>>;
}

/** A call in the form its binding hashes. */
export interface BoundCall {
  /** The requester's subject. */
  readonly requester: string;
  /** Tool name. */
  readonly tool: string;
  /** Sorted, unique target ids. */
  readonly targets: string[];
  /** Arguments as plain JSON, without `dry_run` and `approval_id`. */
  readonly args: Record<string, JsonValue>;
}

/**
 * The bound form of a call: sorted unique targets, arguments as plain JSON without excluded keys.
 *
 * @param call The call.
 * @returns What the binding hashes.
 * @throws {TypeError} When an argument is not JSON.
 */
export function boundCall(call: ApprovalCall): BoundCall {
  const args = Object.fromEntries(
    Object.entries(call.args).filter(([key]) => !BINDING_EXCLUDED_ARGS.includes(key)),
  );
  return {
    requester: call.requester,
    tool: call.tool,
    targets: [...new Set(call.targets)].sort(),
    args: JSON.parse(canonicalJson(args)) as Record<string, JsonValue>,
  };
}

/**
 * The binding of a call: SHA-256 (hex) over the canonical JSON of requester,
 * tool, sorted unique target ids and arguments without `dry_run`/`approval_id`.
 *
 * @param call The call.
 * @returns 64 lowercase hex digits.
 * @throws {TypeError} (as a rejection) When an argument is not JSON (a bigint, a function, a cycle).
 */
export async function computeBinding(call: ApprovalCall): Promise<string> {
  return await sha256Hex(canonicalJson(boundCall(call)));
}

function shown(value: unknown): string {
  const text = value === undefined ? "nothing" : canonicalJson(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The first difference between the approved call and the presented one.
 *
 * @param approval The stored approval.
 * @param call The call presented with it.
 * @returns A sentence fragment, or `undefined` when requester, tool, targets and arguments agree.
 */
export function mismatch(approval: ApprovalRecord, call: ApprovalCall): string | undefined {
  const bound = boundCall(call);
  if (bound.requester !== approval.requester) {
    return `it was requested by "${approval.requester}", not "${bound.requester}"`;
  }
  if (bound.tool !== approval.tool) return `it is for tool "${approval.tool}", not "${bound.tool}"`;
  if (canonicalJson(bound.targets) !== canonicalJson(approval.targets)) {
    return `it is for targets ${shown(approval.targets)}, not ${shown(bound.targets)}`;
  }
  const keys = [...new Set([...Object.keys(approval.args), ...Object.keys(bound.args)])].sort();
  for (const key of keys) {
    const [was, now] = [approval.args[key], bound.args[key]];
    const text = (v: unknown) => (v === undefined ? undefined : canonicalJson(v));
    if (text(was) !== text(now)) {
      return `argument "${key}" changed: approved ${shown(was)}, found ${shown(now)}`;
    }
  }
  return undefined;
}
