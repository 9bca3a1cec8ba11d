/**
 * Who is calling: the subject the gate and the audit log see.
 *
 * @module
 */
import type { TargetMatcher } from "../config/selector.ts";
import { type Scope, SCOPE_NAMES } from "./capabilities.ts";

/** How the caller proved who they are. */
export type IdentityKind = "local" | "token" | "oidc" | "tailscale";

/** An authenticated caller. */
export interface Identity {
  /** Stable subject, e.g. `local:alice` or `token:admin`; written to the audit log. */
  readonly subject: string;
  /** How the identity was established. */
  readonly kind: IdentityKind;
  /** What the identity may do. */
  readonly scopes: ReadonlySet<Scope>;
  /** When set, the identity may only act on targets this matcher selects. */
  readonly targets?: TargetMatcher;
}

/**
 * An identity holding every scope: the local stdio user, and the bootstrap
 * admin token. Policy rules and target capabilities still apply in full.
 *
 * @param subject The subject to record.
 * @param kind How it was established.
 * @returns The identity.
 */
export function fullIdentity(subject: string, kind: IdentityKind): Identity {
  return Object.freeze({ subject, kind, scopes: new Set(SCOPE_NAMES) });
}
