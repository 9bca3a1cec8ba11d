/**
 * The shipped observe-only and homelab policies give least-privilege roles
 * out of the box: a viewer token reads and changes nothing, the local stdio
 * user keeps every scope it had before the policies named any identity.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { compileBindings } from "../../src/auth/bindings.ts";
import { SCOPE_NAMES } from "../../src/config/capabilities.ts";
import { decide } from "../../src/gate/decide.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import { CATALOG } from "../../src/ops/catalog.ts";

const POLICY_DIR = new URL("../../policy/", import.meta.url);
const op = (name: string) => CATALOG.find((o) => o.name === name)!;
const HOST = {
  id: "h",
  type: "ssh" as const,
  capabilities: ["system:read", "system:control"] as const,
  tags: ["homelab"],
  groups: [],
};
const token = (role: string) => ({
  kind: "gateway_token" as const,
  sub: "claude",
  role,
  jti: "j",
  exp: 2_000_000_000,
});

for (const name of ["default.yaml", "homelab.yaml"]) {
  const load = async () => parsePolicy(await Deno.readTextFile(new URL(name, POLICY_DIR)), name);

  Deno.test(`policy/${name} defines the viewer, operator and approver roles`, async () => {
    const roles = Object.keys((await load()).identities?.roles ?? {});
    assert.deepEqual(roles.sort(), ["approver", "operator", "viewer"]);
  });

  Deno.test(`policy/${name}: a viewer token may read a host and may not restart a service on it`, async () => {
    const policy = await load();
    const identity = compileBindings(policy.identities)(token("viewer"));
    assert.ok(identity.scopes.has("system:read"));
    assert.ok(!identity.scopes.has("system:control"));
    const compiled = compilePolicy(policy, CATALOG, { file: name });
    const read = decide(
      { identity, operation: op("system_status"), target: HOST, args: {} },
      compiled,
    );
    assert.equal(read.kind, "allow");
    const restart = decide(
      {
        identity,
        operation: op("service_control"),
        target: HOST,
        args: { unit: "nginx.service", action: "restart" },
      },
      compiled,
    );
    assert.equal(restart.kind, "deny");
  });

  Deno.test(`policy/${name}: the local stdio user still holds every scope`, async () => {
    const identity = compileBindings((await load()).identities)({ kind: "local", user: "alice" });
    assert.deepEqual([...identity.scopes].sort(), [...SCOPE_NAMES].sort());
  });

  Deno.test(`policy/${name}: a token whose role the policy lacks holds no scope`, async () => {
    const identity = compileBindings((await load()).identities)(token("root"));
    assert.equal(identity.scopes.size, 0);
  });
}
