/**
 * Who is calling: the subject the gate and the audit log see.
 *
 * @module
 */
import type { Selectable, TargetMatcher } from "../config/selector.ts";
import { type Scope, SCOPE_NAMES } from "../config/capabilities.ts";

/** How the caller proved who they are. */
export type IdentityKind = "local" | "token" | "oidc" | "tailscale";

/**
 * Scopes that hold on some targets only: what one role grants. An identity
 * bound to several roles holds each role's scopes on that role's targets,
 * never one role's scopes on another role's targets.
 */
export interface Grant {
  /** Scopes granted. */
  readonly scopes: ReadonlySet<Scope>;
  /** Where they hold; every target when absent. */
  readonly targets?: TargetMatcher;
}

/** An authenticated caller. */
export interface Identity {
  /** Stable subject, e.g. `local:alice` or `token:admin`; written to the audit log. */
  readonly subject: string;
  /** How the identity was established. */
  readonly kind: IdentityKind;
  /** Every scope the identity holds somewhere (the union of its grants). */
  readonly scopes: ReadonlySet<Scope>;
  /**
   * Where each scope holds. Absent: every scope holds on every target. The
   * gate needs a grant holding the operation's capability on the target.
   */
  readonly grants?: readonly Grant[];
}

/**
 * Whether an identity holds a scope on a target.
 *
 * @param identity The caller.
 * @param scope The scope needed.
 * @param target The target acted on.
 * @returns `true` when some grant covers both.
 */
export function holdsOn(identity: Identity, scope: Scope, target: Selectable): boolean {
  if (!identity.scopes.has(scope)) return false;
  if (identity.grants === undefined) return true;
  return identity.grants.some((g) =>
    g.scopes.has(scope) && (g.targets === undefined || g.targets(target))
  );
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
