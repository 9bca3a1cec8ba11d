/**
 * The policy file's `identities` section: roles (named scope sets, optionally
 * limited to some targets) and bindings from callers to roles.
 *
 * @example
 * ```yaml
 * identities:
 *   roles:
 *     viewer: { scopes: [system:read, container:read] }
 *     web-operator:
 *       scopes: [system:read, system:control]
 *       targets: ["tag:web"]
 *   bindings:
 *     - { token: ci-bot, roles: [viewer] }
 *     - { oidc_email: "*@example.com", roles: [viewer] }
 *     - { oidc_group: sre, issuer: "https://idp.example.com", roles: [web-operator] }
 *     - { tailscale: alice@github, roles: [web-operator] }
 *     - { local: alice, roles: [web-operator] }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { type Scope, SCOPE_NAMES } from "./capabilities.ts";
import { selectorSchema } from "./selector.ts";

/** Schema for one scope name. */
export const scopeSchema: z.ZodType<Scope> = z.enum(SCOPE_NAMES as [Scope, ...Scope[]], {
  error: (issue) =>
    `Unknown scope ${JSON.stringify(issue.input)}: expected one of ${SCOPE_NAMES.join(", ")}`,
});

const ROLE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** A role: scopes, and optionally the targets they are limited to. */
export const roleSchema = z.strictObject({
  description: z.string().max(500).default(""),
  scopes: z.array(scopeSchema).min(1),
  targets: selectorSchema.optional(),
});

/** Keys a binding can match on; each binding uses exactly one. */
export const BINDING_KEYS = [
  "token",
  "oidc_subject",
  "oidc_email",
  "oidc_group",
  "tailscale",
  "local",
] as const;

/** What a binding matches on. */
export type BindingKey = typeof BINDING_KEYS[number];

// Capped so a glob match against a token's claim stays bounded (see `glob.ts`).
const pattern = z.string().min(1).max(256, {
  error: "Invalid binding value: expected at most 256 characters",
}).regex(/^[^\s\0]+$/, {
  error: "Invalid binding value: expected no whitespace",
});

/** One binding: a caller pattern (`*` and `?` are globs) and the roles it gets. */
export const bindingSchema = z.strictObject({
  token: pattern.optional(),
  oidc_subject: pattern.optional(),
  oidc_email: pattern.optional(),
  oidc_group: pattern.optional(),
  tailscale: pattern.optional(),
  local: pattern.optional(),
  /** Limits an `oidc_*` binding to one issuer. */
  issuer: z.string().url().optional(),
  roles: z.union([z.string().regex(ROLE_NAME), z.array(z.string().regex(ROLE_NAME)).min(1)])
    .transform((r) => (typeof r === "string" ? [r] : r)),
}).superRefine((binding, ctx) => {
  const keys = BINDING_KEYS.filter((k) => binding[k] !== undefined);
  if (keys.length !== 1) {
    ctx.addIssue({
      code: "custom",
      message: `Invalid binding: expected exactly one of ${BINDING_KEYS.join(", ")}, found ${
        keys.length === 0 ? "none" : keys.join(", ")
      }`,
    });
  } else if (binding.issuer !== undefined && !keys[0].startsWith("oidc_")) {
    ctx.addIssue({
      code: "custom",
      path: ["issuer"],
      message: `Invalid binding: "issuer" applies to oidc_* bindings only, found ${keys[0]}`,
    });
  }
});

/** The `identities` section. */
export const identitiesSchema = z.strictObject({
  roles: z.record(z.string().regex(ROLE_NAME), roleSchema).default({}),
  bindings: z.array(bindingSchema).max(10_000).default([]),
}).superRefine((section, ctx) => {
  section.bindings.forEach((binding, index) => {
    binding.roles.forEach((role, r) => {
      if (!Object.hasOwn(section.roles, role)) {
        ctx.addIssue({
          code: "custom",
          path: ["bindings", index, "roles", r],
          message: `Unknown role ${JSON.stringify(role)}: expected one of ${
            Object.keys(section.roles).join(", ") || "(no roles defined)"
          }`,
        });
      }
    });
  });
});

/** A validated role. */
export type Role = z.infer<typeof roleSchema>;
/** A validated binding. */
export type Binding = z.infer<typeof bindingSchema>;
/** The validated `identities` section. */
export type IdentitiesConfig = z.infer<typeof identitiesSchema>;
