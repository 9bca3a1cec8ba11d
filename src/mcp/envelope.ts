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

/** Parameters every tool takes besides the operation's own. */
export const ENVELOPE_SHAPE = {
  target: z.string().max(63).optional().describe(
    "One target id. Give either target or targets.",
  ),
  targets: callSelectorSchema.optional().describe(
    'Several targets: ids, globs ("web-*"), "tag:NAME", "group:NAME", joined by "&" for "and", a leading "!" to exclude.',
  ),
  dry_run: z.boolean().default(false).describe(
    "Return the exact plan (commands or API requests) for each target without running anything.",
  ),
  forks: z.int().min(1).max(DEFAULT_MAX_FORKS).optional().describe(
    `Targets run at once (default ${DEFAULT_FORKS}).`,
  ),
  fail_fast: z.boolean().default(false).describe(
    "Stop starting targets after the first failure.",
  ),
  max_failures: z.int().min(1).max(10_000).optional().describe(
    "Stop starting targets after this many failures.",
  ),
  approval_grant: z.string().max(4096).regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, {
    error: "Invalid approval_grant: expected a compact JWS from `tailops approvals grant ID`",
  }).optional().describe(
    "A signed approval grant (for a gateway that shares the signing key but not the approval store).",
  ),
  approval_id: approvalIdSchema.optional().describe(
    "The id of an approved approval for exactly this call (same arguments and targets).",
  ),
};

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

const errorSchema = z.object({ code: z.string(), message: z.string() });

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
 *
 * @param data The operation's output schema.
 * @returns The tool's output schema.
 */
export function resultSchema<O extends z.ZodType>(data: O) {
  return z.object({
    tool: z.string(),
    dry_run: z.boolean(),
    summary: z.string(),
    fanout_id: z.string().optional(),
    approval: approvalSchema.optional(),
    results: z.array(z.object({
      target: z.string(),
      status: z.enum(TARGET_STATUSES),
      duration_ms: z.number(),
      exit_code: z.number().nullable().optional(),
      truncated: z.boolean().optional(),
      rule: z.string().optional(),
      data: data.optional(),
      plan: z.unknown().optional(),
      error: errorSchema.optional(),
      warning: errorSchema.optional(),
    })),
  });
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
}

/** A tool's structured result. */
export interface ToolResult {
  tool: string;
  dry_run: boolean;
  summary: string;
  fanout_id?: string;
  approval?: ApprovalInfo;
  results: TargetResult[];
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
