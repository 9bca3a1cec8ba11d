/**
 * The envelope every tool shares: how targets are chosen, how a call runs,
 * and the per-target result shape around each operation's own output.
 *
 * @module
 */
import { z } from "zod";
import { callSelectorSchema } from "../config/selector.ts";
import { approvalIdSchema } from "../gate/approvals.ts";
import type { Operation } from "../ops/operation.ts";

/** Most targets a call may run on at once, whatever `forks` asks for. */
export const DEFAULT_MAX_FORKS = 50;
/** Targets run at once when `forks` is not given. */
export const DEFAULT_FORKS = 10;

/**
 * How the envelope works, in words: stated once (at the end of
 * `list_targets`' description, and meant for the server's instructions)
 * rather than repeated in every tool's schema, because each tool's
 * definition costs tokens in every conversation.
 */
export const ENVELOPE_GUIDE =
  'Every tool takes `target` (one id) or `targets` (a selector: ids, globs like "web-*", "tag:NAME", "group:NAME", "a&b" for both, "!x" to exclude); call list_targets first to see ids and what you may do on each. `dry_run: true` returns the exact plan without running it: use it before any change. `forks` caps targets run at once (default ' +
  `${DEFAULT_FORKS}); \`fail_fast\`, \`max_failures\` or \`max_fail_percentage\` stop starting targets after failures; \`serial\` (a count or "25%") rolls out in batches. ` +
  "A result with status approval_required names an approval id: once a human approves it, repeat the same call with `approval_id` (or `approval_grant`). Results have one entry per target with a status (ok, failed, denied, approval_required, timeout, unreachable, planned, skipped, cancelled), `data` or an `error` {code, message}.";

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Parameters every tool takes besides the operation's own. Terse on purpose:
 * {@linkcode ENVELOPE_GUIDE} explains them once.
 */
export const ENVELOPE_SHAPE = {
  target: z.string().max(63).optional(),
  targets: callSelectorSchema.optional(),
  dry_run: z.boolean().default(false),
  forks: z.int().min(1).max(DEFAULT_MAX_FORKS).optional(),
  fail_fast: z.boolean().default(false),
  max_failures: z.int().min(1).max(10_000).optional(),
  max_fail_percentage: z.int().min(0).max(100).optional(),
  serial: z.union([
    z.int().min(1).max(10_000),
    z.string().regex(/^(100|[1-9][0-9]?)%$/, {
      error: 'Invalid serial: expected a batch size such as 2 or a percentage such as "25%"',
    }),
  ]).optional(),
  // A refinement, not `.regex()`: checked the same, but not spelled out in every tool's schema.
  approval_grant: z.string().max(4096).refine((grant) => COMPACT_JWS.test(grant), {
    error: "Invalid approval_grant: expected a compact JWS from `tailops approvals grant ID`",
  }).optional(),
  approval_id: approvalIdSchema.optional(),
};

/**
 * Envelope keys each tool's `tools/list` schema names; the others (`forks`,
 * `fail_fast`, `max_failures`, `max_fail_percentage`, `serial`, `approval_id`,
 * `approval_grant`) are accepted
 * by every tool but explained once, in {@linkcode ENVELOPE_GUIDE} (and an
 * `approval_required` result says to send `approval_id`).
 */
export const LISTED_ENVELOPE_KEYS: readonly string[] = ["target", "targets", "dry_run"];

/** Names reserved by the envelope; operations may not use them. */
export const ENVELOPE_KEYS: readonly string[] = Object.keys(ENVELOPE_SHAPE);

/** Outcome of one target. */
export const TARGET_STATUSES = [
  "ok",
  "failed",
  "denied",
  "approval_required",
  "timeout",
  "unreachable",
  "planned",
  "skipped",
  "cancelled",
] as const;

/** Outcome of one target. */
export type TargetStatus = typeof TARGET_STATUSES[number];

/** The approval a call is waiting for. */
const approvalSchema = z.object({
  id: z.string(),
  state: z.string(),
  rule: z.string(),
  /** Each target's rule, when the call spans more than one. */
  rules: z.record(z.string(), z.string()).optional(),
  requester: z.string(),
  targets: z.array(z.string()),
  expires: z.string(),
  how_to_approve: z.string(),
});

/** The approval a call is waiting for. */
export type ApprovalInfo = z.infer<typeof approvalSchema>;

/**
 * The structured result of a tool: one entry per target, in registry order.
 * The schema names each target's `data` (what differs between tools) and
 * leaves the rest open (`target`, `status`, `summary`, `approval`,
 * `aggregate`, `error`, `duration_ms`, `plan`...): {@linkcode ToolResult} is
 * the full shape and {@linkcode ENVELOPE_GUIDE} says it in words. Listing
 * every field in every tool cost about 1.5 KB of `tools/list` per tool.
 *
 * @param data The operation's output schema.
 * @returns The tool's output schema.
 */
export function resultSchema<O extends z.ZodType>(data: O) {
  return z.looseObject({ results: z.array(z.looseObject({ data: data.optional() })) });
}

/** One target's entry in a tool result. */
export interface TargetResult {
  target: string;
  status: TargetStatus;
  duration_ms: number;
  exit_code?: number | null;
  truncated?: boolean;
  rule?: string;
  data?: unknown;
  plan?: unknown;
  error?: { code: string; message: string };
  /** Something the client must know about a target that ran (e.g. `audit_unrecorded`). */
  warning?: { code: string; message: string };
  /** The rollout batch (1-based) when the call gave `serial`. */
  batch?: number;
}

/** One rollout batch's outcome (`serial`). */
export interface BatchSummary {
  batch: number;
  targets: string[];
  ok: number;
  failed: number;
  skipped: number;
}

/**
 * The batch size for `serial`: a count, or a percentage of the targets rounded up.
 *
 * @param serial The envelope's `serial`, if given.
 * @param count How many targets the call selected.
 * @returns Targets per batch (all of them when `serial` is absent).
 */
export function batchSize(serial: number | string | undefined, count: number): number {
  if (serial === undefined) return Math.max(1, count);
  if (typeof serial === "number") return serial;
  return Math.max(1, Math.ceil((count * Number(serial.slice(0, -1))) / 100));
}

/** A tool's structured result. */
export interface ToolResult {
  tool: string;
  dry_run: boolean;
  summary: string;
  fanout_id?: string;
  approval?: ApprovalInfo;
  /** What the targets' outputs say together, for operations that declare it. */
  aggregate?: Record<string, unknown>;
  results: TargetResult[];
  /** Per batch, when the call gave `serial`. */
  batches?: BatchSummary[];
}

/**
 * The full input schema of a tool: the operation's own parameters plus the envelope.
 *
 * @param operation The operation.
 * @returns A strict object schema (unknown keys refused) with the operation's own checks.
 * @throws {TypeError} When the operation uses a reserved parameter name.
 */
export function toolInputSchema(operation: Operation) {
  for (const key of operation.paramNames) {
    if (ENVELOPE_KEYS.includes(key)) {
      throw new TypeError(
        `Invalid operation ${operation.name}: parameter ${JSON.stringify(key)} is reserved`,
      );
    }
  }
  const own = new Set(operation.paramNames);
  // The operation's object-level checks (e.g. "a GET has no body", "exactly
  // one of packages or all") live on its schema, not in its shape: run them
  // on its own parameters once every field is valid.
  return z.strictObject({ ...operation.input.shape, ...ENVELOPE_SHAPE }).superRefine(
    (args, ctx) => {
      const params = Object.fromEntries(Object.entries(args).filter(([key]) => own.has(key)));
      const checked = operation.input.safeParse(params);
      if (checked.success) return;
      for (const issue of checked.error.issues) {
        ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
      }
    },
  );
}
