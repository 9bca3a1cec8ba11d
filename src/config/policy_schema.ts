/**
 * The policy file: rules that say which operations may run on which targets,
 * and under what parameter limits. Schema and derived types only; the gate
 * compiles and evaluates it.
 *
 * @module
 */
import { z } from "zod";
import { capabilitySchema, TIERS } from "../gate/capabilities.ts";
import { absolutePathSchema } from "./targets_schema.ts";
import { selectorSchema } from "./selector.ts";

/** Limits on one parameter, narrowing the operation's own schema. */
export const paramConstraintSchema = z.strictObject({
  /** The value must be one of these. */
  enum: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1).optional(),
  /** The string value must match this regular expression (anchored for you). */
  pattern: z.string().max(512).optional(),
  /** The path value must be one of these directories or lie under one. */
  roots: z.array(absolutePathSchema).min(1).optional(),
  /** The number value must be at least this. */
  min: z.number().optional(),
  /** The number value must be at most this. */
  max: z.number().optional(),
}).refine((c) => Object.values(c).some((v) => v !== undefined), {
  error: "Invalid parameter constraint: expected at least one of enum, pattern, roots, min, max",
}).refine((c) => {
  if (c.pattern === undefined) return true;
  try {
    new RegExp(c.pattern);
    return true;
  } catch {
    return false;
  }
}, { error: "Invalid pattern: expected a valid regular expression" });

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
  operations: z.array(z.string().regex(/^[a-z*?][a-z0-9_*?]{0,63}$/)).min(1).default(["*"]),
  /** Only operations of these tiers match. */
  tiers: z.array(z.enum(TIERS, { error: "Invalid tier: expected observe, control or admin" }))
    .min(1).optional(),
  /** Only operations needing one of these capabilities match. */
  capabilities: z.array(capabilitySchema).min(1).optional(),
  /** Targets the rule covers. */
  targets: selectorSchema.default(["*"]),
  /** Parameter limits, by parameter name. */
  params: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), paramConstraintSchema).default({}),
});

/** The whole policy file. */
export const policyFileSchema = z.strictObject({
  version: z.literal(1, { error: "Invalid version: expected 1" }).default(1),
  description: z.string().max(2000).default(""),
  rules: z.array(ruleSchema).max(1000).default([]),
}).superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.rules.forEach((rule, index) => {
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
/** The validated policy file. */
export type PolicyFile = z.infer<typeof policyFileSchema>;
