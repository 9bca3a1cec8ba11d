import { holdsOn } from "../../src/gate/identity.ts";
import assert from "node:assert/strict";
import { compileBindings } from "../../src/auth/bindings.ts";
import type { Principal } from "../../src/auth/types.ts";
import { identitiesSchema } from "../../src/config/identities_schema.ts";
import { SCOPE_NAMES } from "../../src/config/capabilities.ts";

const ISSUER = "https://idp.example.com";
const identities = identitiesSchema.parse({
  roles: {
    viewer: { scopes: ["system:read"] },
    web: { scopes: ["system:control"], targets: ["tag:web"] },
    db: { scopes: ["system:admin"], targets: "group:db" },
    approver: { scopes: ["approvals:grant"] },
  },
  bindings: [
    { token: "ci-*", roles: "viewer" },
    { oidc_subject: "u-1", issuer: ISSUER, roles: ["web"] },
    { oidc_email: "*@Example.com", roles: ["viewer"] },
    { oidc_group: "dba", roles: ["db"] },
    { tailscale: "alice@github", roles: ["approver", "viewer"] },
    { local: "ops", roles: ["web", "db"] },
  ],
});
const oidc = (sub: string, email?: string, groups: string[] = [], issuer = ISSUER): Principal => ({
  kind: "oidc",
  issuer,
  sub,
  exp: 0,
  via: "jwt",
  groups,
  ...(email ? { email } : {}),
});

Deno.test("compileBindings() grants the union of bound roles' scopes", () => {
  const resolve = compileBindings(identities);
  const table: [Principal, string[]][] = [
    [{ kind: "gateway_token", sub: "ci-1", role: "none", jti: "j", exp: 0 }, ["system:read"]],
    [{ kind: "gateway_token", sub: "bob", role: "web", jti: "j", exp: 0 }, ["system:control"]],
    [{ kind: "gateway_token", sub: "bob", role: "nope", jti: "j", exp: 0 }, []],
    [oidc("u-1"), ["system:control"]],
    [oidc("u-1", undefined, [], "https://other.example"), []],
    [oidc("u-2", "ALICE@example.COM"), ["system:read"]],
    [oidc("u-3", "eve@example.org"), []],
    [oidc("u-4", undefined, ["dba", "x"]), ["system:admin"]],
    [oidc("u-1", "a@example.com", ["dba"]), ["system:admin", "system:control", "system:read"]],
    [{ kind: "tailscale", login: "Alice@GitHub" }, ["approvals:grant", "system:read"]],
    [{ kind: "tailscale", login: "bob@github" }, []],
    [{ kind: "local", user: "ops" }, ["system:admin", "system:control"]],
    [{ kind: "local", user: "root" }, []],
    [{ kind: "admin" }, [...SCOPE_NAMES]],
  ];
  for (const [principal, scopes] of table) {
    const identity = resolve(principal);
    assert.deepEqual([...identity.scopes].sort(), [...scopes].sort(), JSON.stringify(principal));
  }
});

Deno.test("compileBindings() grants each role's scopes on that role's targets only", () => {
  const resolve = compileBindings(identities);
  const ops = resolve({ kind: "local", user: "ops" });
  const web = { id: "w", tags: ["web"], groups: [] };
  const db = { id: "d", tags: [], groups: ["db"] };
  const other = { id: "o", tags: [], groups: [] };
  assert.equal(holdsOn(ops, "system:control", web), true);
  assert.equal(holdsOn(ops, "system:admin", db), true);
  // Two roles never mix: the web role's control does not reach the db targets, nor the reverse.
  assert.equal(holdsOn(ops, "system:control", db), false);
  assert.equal(holdsOn(ops, "system:admin", web), false);
  assert.equal(holdsOn(ops, "system:control", other), false);
  const alice = resolve({ kind: "tailscale", login: "alice@github" });
  assert.ok(alice.grants?.every((g) => g.targets === undefined));
});

Deno.test("compileBindings() without an identities section keeps admin and local only", () => {
  const resolve = compileBindings(undefined);
  assert.equal(resolve({ kind: "admin" }).scopes.size, SCOPE_NAMES.length);
  const local = resolve({ kind: "local", user: "alice" });
  assert.equal(local.subject, "local:alice");
  assert.equal(local.scopes.size, SCOPE_NAMES.length);
  assert.equal(resolve({ kind: "tailscale", login: "a@b" }).scopes.size, 0);
  assert.equal(resolve(oidc("u-1")).scopes.size, 0);
  const token = resolve({ kind: "gateway_token", sub: "x", role: "r", jti: "j", exp: 0 });
  assert.equal(token.scopes.size, 0);
});

Deno.test("identitiesSchema refuses unknown roles, scopes and ambiguous bindings", () => {
  const problems = (value: unknown) =>
    identitiesSchema.safeParse(value).error?.issues.map((i) => i.message) ?? [];
  assert.match(problems({ bindings: [{ local: "a", roles: "ghost" }] })[0], /Unknown role "ghost"/);
  assert.match(
    problems({ roles: { r: { scopes: ["root:all"] } } })[0],
    /Unknown scope "root:all"/,
  );
  assert.match(
    problems({ roles: { r: { scopes: ["system:read"] } }, bindings: [{ roles: "r" }] })[0],
    /expected exactly one of .*found none/,
  );
  assert.match(
    problems({
      roles: { r: { scopes: ["system:read"] } },
      bindings: [{ local: "a", tailscale: "b", roles: "r" }],
    })[0],
    /found tailscale, local/,
  );
  assert.match(
    problems({
      roles: { r: { scopes: ["system:read"] } },
      bindings: [{ local: "a", issuer: "https://x", roles: "r" }],
    })[0],
    /applies to oidc_\* bindings only/,
  );
});
