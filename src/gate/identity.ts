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
 * Holding a scope on every target: no grant of it is limited to some
 * targets (for what spans all targets, such as the audit log).
 *
 * @param identity The caller.
 * @param scope The scope.
 * @returns Whether the identity holds `scope` everywhere.
 */
export function holdsEverywhere(identity: Identity, scope: Scope): boolean {
  if (!identity.scopes.has(scope)) return false;
  return identity.grants === undefined ||
    identity.grants.some((g) => g.scopes.has(scope) && g.targets === undefined);
}

/**
 * Whether a caller may see and decide an approval: it holds
 * `approvals:grant` on every target the approval is about; a target no
 * longer registered (`undefined`) needs the scope on every target.
 *
 * @param identity The caller.
 * @param targets The approval's targets, looked up in the registry.
 * @returns Whether the approval is the caller's to see and decide.
 */
export function mayDecideApproval(
  identity: Identity,
  targets: readonly (Selectable | undefined)[],
): boolean {
  return targets.every((target) =>
    target === undefined
      ? holdsEverywhere(identity, "approvals:grant")
      : holdsOn(identity, "approvals:grant", target)
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
