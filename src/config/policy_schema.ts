/**
 * The policy file: rules that say which operations may run on which targets,
 * and under what parameter limits. Schema and derived types only; the gate
 * compiles and evaluates it.
 *
 * @module
 */
import { z } from "zod";
import { capabilitySchema, TIERS } from "./capabilities.ts";
import { secretRefSchema } from "./secret.ts";
import { auditConfigSchema } from "./audit_schema.ts";
import { absolutePathSchema } from "./targets_schema.ts";
import { selectorSchema } from "./selector.ts";
import { patternProblem } from "./pattern.ts";
import { parseCidr } from "./ip_range.ts";
import { authConfigSchema } from "./auth_schema.ts";
import { identitiesSchema } from "./identities_schema.ts";
import { lockoutSchema, windowSchema } from "./window_schema.ts";

const DURATION = /^([1-9]\d{0,4})(s|m|h)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** How long an approval request stays valid, e.g. `15m`; at most 24 hours. Parsed to milliseconds. */
export const approvalTtlSchema = z.string().regex(DURATION, {
  error: (issue) =>
    `Invalid approval_ttl ${
      JSON.stringify(issue.input)
    }: expected a duration such as "90s", "15m" or "2h"`,
}).transform((text) => {
  const [, amount, unit] = DURATION.exec(text)!;
  return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
}).refine((ms) => ms <= 86_400_000, { error: "Invalid approval_ttl: expected at most 24h" });

/** Limits on one parameter, narrowing the operation's own schema. */
export const paramConstraintSchema = z.strictObject({
  /** The value must be one of these. */
  enum: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1).optional(),
  /**
   * The string value must match this regular expression (anchored for you).
   * RE2 syntax, matched in linear time (see `pattern.ts`).
   */
  pattern: z.string().superRefine((source, ctx) => {
    const problem = patternProblem(source);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }).optional(),
  /** The path value must be one of these directories or lie under one. */
  roots: z.array(absolutePathSchema).min(1).optional(),
  /**
   * The value must be an IP address literal inside one of these ranges
   * (`10.0.0.0/8`, `fd00::/8`, or one address). A host name cannot be
   * checked against ranges, so it is refused.
   */
  cidrs: z.array(
    z.string().max(64).refine((text) => parseCidr(text) !== undefined, {
      error: (issue) =>
        `Invalid CIDR range: expected an address or range such as "10.0.0.0/8" or "fd00::/8", found ${
          JSON.stringify(issue.input)
        }`,
    }),
  ).min(1).max(256).optional(),
  /** The number value must be at least this. */
  min: z.number().optional(),
  /** The number value must be at most this. */
  max: z.number().optional(),
  /**
   * Whether a call may leave the parameter out. By default a limited
   * parameter must be given: leaving it out usually means "everything"
   * (every unit, every package).
   */
  optional: z.boolean().optional(),
}).refine((c) => [c.enum, c.pattern, c.roots, c.cidrs, c.min, c.max].some((v) => v !== undefined), {
  error:
    "Invalid parameter constraint: expected at least one of enum, pattern, roots, cidrs, min, max",
});

/** What a matching rule does. `approve` means the call needs a human's approval first. */
export const RULE_EFFECTS = ["allow", "approve", "deny"] as const;

/** One policy rule. */
export const ruleSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, {
    error: 'Invalid rule id: expected lowercase letters, digits, ".", "_" or "-"',
  }),
  description: z.string().max(500).default(""),
  effect: z.enum(RULE_EFFECTS, {
    error: "Invalid effect: expected one of allow, approve, deny",
  }).default("allow"),
  /** Operation names or globs (`service_*`). */
  operations: z.array(
    z.string().regex(/^[a-z*?][a-z0-9_*?]{0,63}$/, {
      error: (issue) =>
        `Invalid operation ${
          JSON.stringify(String(issue.input).slice(0, 80))
        }: expected an operation name or glob of at most 64 characters (lowercase letters, digits, "_", "*", "?")`,
    }),
  ).min(1).max(256, { error: "Invalid operations: expected at most 256 names" }).default(["*"]),
  /** Only operations of these tiers match. */
  tiers: z.array(z.enum(TIERS, { error: "Invalid tier: expected observe, control or admin" }))
    .min(1).optional(),
  /** Only operations needing one of these capabilities match. */
  capabilities: z.array(capabilitySchema).min(1).optional(),
  /** Targets the rule covers. */
  targets: selectorSchema.default(["*"]),
  /** Parameter limits, by parameter name. */
  params: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), paramConstraintSchema).default({}),
  /** Maintenance windows: outside them the rule admits no call of `window_tiers`. */
  windows: z.array(windowSchema).min(1).max(64).optional(),
  /** Lockout periods: while one lasts the rule admits no call of `window_tiers`. */
  lockouts: z.array(lockoutSchema).min(1).max(256).optional(),
  /** Tiers that windows and lockouts apply to; default control and admin, so observe is exempt. */
  window_tiers: z.array(z.enum(TIERS)).min(1).optional(),
  /** For `approve` rules: the approver must differ from the requester (default: on, unless `confirm`). */
  separation_of_duties: z.boolean().optional(),
  /** For `approve` rules: the requester may confirm the call themself (MCP elicitation); default off. */
  confirm: z.boolean().optional(),
  /** For `approve` rules: how long a request stays valid; default 15m. */
  approval_ttl: approvalTtlSchema.optional(),
});

/** Token bucket settings for one tier. */
export const rateLimitSchema = z.strictObject({
  /** Sustained calls per minute. */
  per_minute: z.number().positive().max(1_000_000),
  /** Calls allowed at once after a quiet spell; defaults to `per_minute`. */
  burst: z.number().int().min(1).max(1_000_000).optional(),
});

/** Per-tier rate limits for tool calls, per identity; and the HTTP transport's request limits. */
export const rateLimitsSchema = z.strictObject({
  observe: rateLimitSchema.optional(),
  control: rateLimitSchema.optional(),
  admin: rateLimitSchema.optional(),
  /** HTTP requests: per client address for those that end unauthenticated, per identity for the rest. */
  http: z.strictObject({
    unauthenticated_per_address: rateLimitSchema.optional(),
    authenticated_per_identity: rateLimitSchema.optional(),
  }).optional(),
});

/** Where approval requests are announced. */
export const approvalsConfigSchema = z.strictObject({
  webhook: z.strictObject({
    /** Receives an HMAC-SHA256 signed POST per approval event. */
    url: z.url({ protocol: /^https?$/, error: "Invalid webhook url: expected an http(s) URL" }),
    /** Secret reference (`${ENV_VAR}` or `file:/path`) for the signature key. */
    secret: secretRefSchema,
  }).optional(),
});

/** The whole policy file. */
export const policyFileSchema = z.strictObject({
  version: z.literal(1, { error: "Invalid version: expected 1" }).default(1),
  description: z.string().max(2000).default(""),
  rules: z.array(ruleSchema).max(1000).default([]),
  /** Per-identity, per-tier call rate limits; tiers left out use the defaults. */
  rate_limits: rateLimitsSchema.optional(),
  /** Approval notifications. */
  approvals: approvalsConfigSchema.optional(),
  /** Audit checkpoints: how often the chain head is signed, where it is shipped. */
  audit: auditConfigSchema.optional(),
  /** Roles and bindings; when absent, only the admin token and the local user hold scopes. */
  identities: identitiesSchema.optional(),
  /** Which credentials the HTTP transport accepts. */
  auth: authConfigSchema.default(() => authConfigSchema.parse({})),
  /**
   * With a shared state database (`--state-url`), what runs while it is
   * unreachable: `required` (default) refuses every call that needs it;
   * `best_effort` lets observe-tier calls continue on local rate limits and
   * the last loaded revocation list. Approvals always need it.
   */
  shared_state: z.enum(["required", "best_effort"], {
    error: "Invalid shared_state: expected required or best_effort",
  }).default("required"),
}).superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.rules.forEach((rule, index) => {
    for (const key of ["windows", "lockouts"] as const) {
      if (rule.effect === "deny" && rule[key] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["rules", index, key],
          message: `Rule ${
            JSON.stringify(rule.id)
          } has ${key}, but it denies: expected ${key} only on allow and approve rules`,
        });
      }
    }
    const approvalKeys = [
      rule.separation_of_duties !== undefined && "separation_of_duties",
      rule.approval_ttl !== undefined && "approval_ttl",
      rule.confirm && "confirm",
    ].filter((key) => typeof key === "string");
    if (rule.effect !== "approve" && approvalKeys.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", index, approvalKeys[0]],
        message: `Rule ${JSON.stringify(rule.id)} sets ${
          approvalKeys[0]
        }, but its effect is ${rule.effect}: expected it only on approve rules`,
      });
    }
    if (rule.confirm && rule.separation_of_duties === true) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", index, "confirm"],
        message: `Rule ${
          JSON.stringify(rule.id)
        } sets both confirm and separation_of_duties: expected at most one, since confirm lets the requester approve`,
      });
    }
    if (seen.has(rule.id)) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", index, "id"],
        message: `Duplicate rule id ${JSON.stringify(rule.id)}`,
      });
    }
    seen.add(rule.id);
  });
});

/** A validated rule. */
export type Rule = z.infer<typeof ruleSchema>;
/** A validated parameter constraint. */
export type ParamConstraint = z.infer<typeof paramConstraintSchema>;
/** Validated per-tier rate limits. */
export type RateLimits = z.infer<typeof rateLimitsSchema>;
/** The validated policy file. */
export type PolicyFile = z.infer<typeof policyFileSchema>;
