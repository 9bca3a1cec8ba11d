/**
 * The capability gate: vocabulary, identities, compiled policy and decisions.
 *
 * @module
 */
export * from "../config/capabilities.ts";
export * from "./decide.ts";
export * from "./identity.ts";
export * from "./policy.ts";
