/**
 * From principal to identity: the `identities` section's bindings pick roles,
 * and the roles' scopes and target limits make the gate's {@linkcode Identity}.
 *
 * @module
 */
import type { Binding, IdentitiesConfig } from "../config/identities_schema.ts";
import { compileSelector } from "../config/selector.ts";
import { compileGlob } from "../config/glob.ts";
import type { Scope } from "../config/capabilities.ts";
import { fullIdentity, type Grant, type Identity, type IdentityKind } from "../gate/identity.ts";
import type { Principal } from "./types.ts";

/** Resolves a principal to the identity the gate sees. */
export type IdentityResolver = (principal: Principal) => Identity;

/**
 * The stable subject and identity kind of a principal, as the audit log records it.
 *
 * @param principal Who was authenticated.
 * @returns For example `token:ci-bot`, `oidc:https://idp.example#1234`,
 * `tailscale:alice@github`, `local:alice`.
 */
export function subjectOf(principal: Principal): { subject: string; kind: IdentityKind } {
  switch (principal.kind) {
    case "admin":
      return { subject: "token:admin", kind: "token" };
    case "gateway_token":
      return { subject: `token:${principal.sub}`, kind: "token" };
    case "oidc":
      return { subject: `oidc:${principal.issuer}#${principal.sub}`, kind: "oidc" };
    case "tailscale":
      return { subject: `tailscale:${principal.login}`, kind: "tailscale" };
    case "local":
      return { subject: `local:${principal.user}`, kind: "local" };
  }
}

const sameIssuer = (a: string, b: string) => a.replace(/\/$/, "") === b.replace(/\/$/, "");

function bindingMatcher(binding: Binding): (p: Principal) => boolean {
  const glob = (value: string, fold = false) => {
    const matches = compileGlob(value, { caseInsensitive: fold });
    return (s: string | undefined) => s !== undefined && matches(s);
  };
  const issuerOk = (p: Principal) =>
    binding.issuer === undefined || (p.kind === "oidc" && sameIssuer(p.issuer, binding.issuer));
  if (binding.token !== undefined) {
    const m = glob(binding.token);
    return (p) => p.kind === "gateway_token" && m(p.sub);
  }
  if (binding.oidc_subject !== undefined) {
    const m = glob(binding.oidc_subject);
    return (p) => p.kind === "oidc" && issuerOk(p) && m(p.sub);
  }
  if (binding.oidc_email !== undefined) {
    const m = glob(binding.oidc_email, true);
    return (p) => p.kind === "oidc" && issuerOk(p) && m(p.email);
  }
  if (binding.oidc_group !== undefined) {
    const m = glob(binding.oidc_group);
    return (p) => p.kind === "oidc" && issuerOk(p) && p.groups.some((g) => m(g));
  }
  if (binding.tailscale !== undefined) {
    const m = glob(binding.tailscale, true);
    return (p) => p.kind === "tailscale" && m(p.login);
  }
  const m = glob(binding.local ?? "");
  return (p) => p.kind === "local" && m(p.user);
}

/**
 * Compiles the `identities` section into a resolver.
 *
 * Without an `identities` section the gateway behaves as before it existed:
 * the admin token and the local user hold every scope, everyone else none.
 * With one, the admin token still holds every scope; any other principal
 * holds the union of the scopes of its roles — the roles its bindings name,
 * plus the `role` claim of a gateway token. Each role becomes one grant: its
 * scopes hold on its targets only (everywhere when it has no `targets`), so a
 * principal bound to a narrow admin role and a broad read role holds the
 * admin scopes on the admin role's targets alone. A principal with no role
 * gets an identity with no scopes, which the authenticator refuses.
 *
 * @param identities The validated section, or `undefined` when absent.
 * @returns The resolver.
 */
export function compileBindings(identities: IdentitiesConfig | undefined): IdentityResolver {
  if (identities === undefined) {
    return function resolveWithoutIdentities(principal) {
      const { subject, kind } = subjectOf(principal);
      if (principal.kind === "admin" || principal.kind === "local") {
        return fullIdentity(subject, kind);
      }
      return Object.freeze({ subject, kind, scopes: new Set<Scope>() });
    };
  }
  const roles = new Map(
    Object.entries(identities.roles).map(([name, role]) => [name, {
      scopes: role.scopes,
      targets: role.targets === undefined ? undefined : compileSelector(role.targets),
    }]),
  );
  const bindings = identities.bindings.map((b) => ({ match: bindingMatcher(b), roles: b.roles }));
  return function resolveWithBindings(principal) {
    const { subject, kind } = subjectOf(principal);
    if (principal.kind === "admin") return fullIdentity(subject, kind);
    const names = new Set(bindings.filter((b) => b.match(principal)).flatMap((b) => b.roles));
    if (principal.kind === "gateway_token") names.add(principal.role);
    const bound = [...names].flatMap((name) => roles.get(name) ?? []);
    const scopes = new Set<Scope>(bound.flatMap((role) => role.scopes));
    const grants: Grant[] = bound.map((role) => ({
      scopes: new Set<Scope>(role.scopes),
      ...(role.targets ? { targets: role.targets } : {}),
    }));
    return Object.freeze({ subject, kind, scopes, grants });
  };
}
