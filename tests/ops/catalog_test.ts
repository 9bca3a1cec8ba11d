import assert from "node:assert/strict";
import denoConfig from "../../deno.json" with { type: "json" };
import { CATALOG, checkRegistryAgainstCatalog, localPrograms } from "../../src/ops/catalog.ts";
import { parseTargets } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { toolInputSchema } from "../../src/mcp/envelope.ts";
import { TARGET_TYPE_CAPABILITIES } from "../../src/config/capabilities.ts";
import { SAFE_PATH } from "../../src/exec/local_kind.ts";

Deno.test("the gateway permission set may run exactly the programs the catalog declares, by absolute path from the fixed system PATH", () => {
  const declared = [...new Set(CATALOG.flatMap((op) => op.programs))];
  const paths = SAFE_PATH.split(":").flatMap((dir) => declared.map((p) => `${dir}/${p}`)).sort();
  assert.deepEqual([...denoConfig.permissions.gateway.run].sort(), paths);
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
    // list_targets is answered by the gateway; the gate reads its visibleWith, not its capability.
    if (op.visibleWith) continue;
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

Deno.test("checkRegistryAgainstCatalog() refuses a sudo list naming an unknown operation", async () => {
  const yaml = (sudo: string) => `
targets:
  - id: web-1
    type: ssh
    capabilities: [system:read]
    sudo: ${sudo}
    connection: { host: 127.0.0.1, user: ops, key: "\${K}", host_key: "SHA256:${"A".repeat(43)}" }
`;
  const load = (sudo: string) =>
    parseTargets(yaml(sudo), "t.yaml", {
      secrets: { env: () => "key", readFile: () => Promise.reject(new Error("none")) },
      // Placeholder secrets: the key and CA checks at load have their own tests.
      checkReferences: false,
    });
  checkRegistryAgainstCatalog(await load("[service_control, package_upgrade]"));
  const typo = await load("[service_contrl]");
  assert.throws(
    () => checkRegistryAgainstCatalog(typo),
    (e) =>
      e instanceof ConfigError &&
      /Target "web-1" lists "service_contrl" under sudo: expected an operation that runs on ssh targets/
        .test(e.message),
  );
});

Deno.test("every parameter an operation can run without declares what leaving it out reaches", () => {
  for (const op of CATALOG) {
    for (const [name, schema] of Object.entries(op.input.shape)) {
      const def = (schema as { def: { type: string; defaultValue?: unknown } }).def;
      const omissible = def.type === "optional" ||
        (def.type === "default" && Array.isArray(def.defaultValue) &&
          def.defaultValue.length === 0);
      if (!omissible) continue;
      assert.ok(
        op.paramReach?.[name] !== undefined,
        `${op.name}.${name} can be left out: declare its paramReach so policy limits fail closed`,
      );
    }
  }
});

Deno.test("a tool's input schema keeps its operation's cross-field checks (exactly one of packages or all)", () => {
  const upgrade = toolInputSchema(CATALOG.find((op) => op.name === "package_upgrade")!);
  const ok = (args: Record<string, unknown>) => upgrade.safeParse({ target: "x", ...args }).success;
  assert.equal(ok({ packages: ["nginx"] }), true);
  assert.equal(ok({ all: true }), true);
  assert.equal(ok({}), false, "neither");
  assert.equal(ok({ packages: ["nginx"], all: true }), false, "both");
  const http = toolInputSchema(CATALOG.find((op) => op.name === "http_request")!);
  assert.equal(http.safeParse({ target: "x", path: "/", body: 1 }).success, false, "GET body");
  assert.equal(
    http.safeParse({ target: "x", method: "POST", path: "/", body: 1 }).success,
    true,
  );
});
