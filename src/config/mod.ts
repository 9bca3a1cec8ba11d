/**
 * Configuration: the target registry, the policy file, secret references.
 *
 * @module
 */
export * from "./capabilities.ts";
export * from "./errors.ts";
export * from "./load.ts";
export * from "./policy_schema.ts";
export * from "./registry.ts";
export * from "./secret.ts";
export * from "./selector.ts";
export * from "./targets_schema.ts";
