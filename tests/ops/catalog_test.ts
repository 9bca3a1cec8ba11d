import assert from "node:assert/strict";
import denoConfig from "../../deno.json" with { type: "json" };
import { CATALOG, localPrograms } from "../../src/ops/catalog.ts";
import { toolInputSchema } from "../../src/mcp/envelope.ts";
import { TARGET_TYPE_CAPABILITIES } from "../../src/gate/capabilities.ts";

Deno.test("the gateway permission set may run exactly the programs the catalog declares", () => {
  const declared = [...new Set(CATALOG.flatMap((op) => op.programs))].sort();
  assert.deepEqual([...denoConfig.permissions.gateway.run].sort(), declared);
});

Deno.test("localPrograms() offers only programs of operations the local targets can use", () => {
  const programs = localPrograms(CATALOG, new Set(["system:read"]));
  assert.ok(programs.includes("uname"));
  assert.ok(!programs.includes("apt-get"), "package_upgrade needs system:admin");
  assert.ok(!programs.includes("docker"), "compose needs stack:control");
});

Deno.test("every operation has a unique name, a description, and a tool schema without reserved keys", () => {
  const names = new Set<string>();
  for (const op of CATALOG) {
    assert.ok(!names.has(op.name), `duplicate ${op.name}`);
    names.add(op.name);
    assert.ok(op.description.length >= 20, `${op.name} needs a description`);
    const schema = toolInputSchema(op);
    assert.equal(
      schema.safeParse({ target: "x", bogus: 1 }).success,
      false,
      `${op.name} must refuse unknown keys`,
    );
  }
});

Deno.test("every operation's capability is one its target types can hold", () => {
  for (const op of CATALOG) {
    for (const type of op.targetTypes) {
      assert.ok(
        TARGET_TYPE_CAPABILITIES[type].includes(op.capability),
        `${op.name} needs ${op.capability}, which ${type} targets cannot have`,
      );
    }
  }
});

Deno.test("read-only operations are marked as such and mutating ones are not", () => {
  for (const op of CATALOG) {
    if (op.tier === "observe" && op.capabilityFor === undefined) {
      assert.equal(op.mutates, false, `${op.name} is observe-tier but mutates`);
    }
    if (op.tier !== "observe") assert.equal(op.mutates, true, `${op.name} changes targets`);
  }
});
