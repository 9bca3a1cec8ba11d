import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { SCOPE_NAMES } from "../../src/config/capabilities.ts";
import { couldUse, decide, type GateTarget } from "../../src/gate/decide.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { type CompiledPolicy, compilePolicy, type OperationFacts } from "../../src/gate/policy.ts";
import { DOCKER_OPERATIONS } from "../../src/ops/docker_ops.ts";
import { HOST_OPERATIONS } from "../../src/ops/host_ops.ts";
import { HTTP_OPERATIONS } from "../../src/ops/http_ops.ts";

const OPS: readonly OperationFacts[] = [
  ...HOST_OPERATIONS,
  ...DOCKER_OPERATIONS,
  ...HTTP_OPERATIONS,
];

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const IDS = ["web-1", "web-2", "web-10", "db-1", "db-2", "nas", "engine", "api"];
const TAGS = ["web", "db", "edge", "gpu"];
const GROUPS = ["prod", "dev", "lab"];
const ATOMS = [
  ...IDS,
  "web-*",
  "db-?",
  "*",
  "*-1",
  "n*s",
  ...TAGS.map((t) => `tag:${t}`),
  ...GROUPS.map((g) => `group:${g}`),
];
const OPERATION_GLOBS = ["*", "system_*", "read_file", "service_control", "container_*", "http_*"];

function randomPolicy(next: () => number, rules: number): string {
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)];
  const lines = ["rules:"];
  for (let i = 0; i < rules; i++) {
    const terms = Array.from({ length: 1 + Math.floor(next() * 3) }, () => {
      const atoms = Array.from({ length: 1 + Math.floor(next() * 2) }, () => pick(ATOMS));
      return (next() < 0.15 ? "!" : "") + atoms.join("&");
    });
    lines.push(`  - id: r${i}`);
    lines.push(`    effect: ${pick(["allow", "allow", "approve", "deny"])}`);
    const operations = [pick(OPERATION_GLOBS), ...(next() < 0.3 ? ["read_file"] : [])];
    lines.push(`    operations: ${JSON.stringify(operations)}`);
    // A tier on literal names alone could match nothing, which compilePolicy refuses.
    if (operations.some((o) => o.includes("*")) && next() < 0.3) {
      lines.push(`    tiers: [${pick(["observe", "control", "admin"])}]`);
    }
    lines.push(`    targets: ${JSON.stringify(terms)}`);
  }
  return lines.join("\n") + "\n";
}

function randomTarget(next: () => number): GateTarget {
  const some = (list: readonly string[]) => list.filter(() => next() < 0.35);
  const type = (["ssh", "local", "docker", "http"] as const)[Math.floor(next() * 4)];
  return {
    id: IDS[Math.floor(next() * IDS.length)],
    type,
    capabilities: [...SCOPE_NAMES] as GateTarget["capabilities"],
    tags: some(TAGS),
    groups: some(GROUPS),
  };
}

Deno.test("the rule index gives the same decisions as trying every rule, over random policies", () => {
  const identity = fullIdentity("local:root", "local");
  const now = new Date("2026-01-01T12:00:00Z");
  let compared = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const next = random(seed);
    const policy = compilePolicy(
      parsePolicy(randomPolicy(next, 1 + Math.floor(next() * 40)), "p.yaml"),
      OPS,
    );
    assert.ok(policy.index, "compilePolicy builds an index");
    const naive: CompiledPolicy = { rules: policy.rules };
    for (let t = 0; t < 12; t++) {
      const target = randomTarget(next);
      for (const operation of OPS) {
        const request = { identity, operation, target, args: {}, now };
        assert.deepEqual(
          decide(request, policy),
          decide(request, naive),
          `seed ${seed}, ${operation.name} on ${JSON.stringify(target)}`,
        );
        assert.equal(couldUse(request, policy), couldUse(request, naive));
        compared++;
      }
    }
  }
  assert.ok(compared > 10_000);
});

Deno.test("the rule index returns matching rules in file order, each once", () => {
  const policy = compilePolicy(
    parsePolicy(
      `rules:
  - { id: a, targets: ["tag:web", "web-1"] }
  - { id: b, targets: ["group:prod&tag:web"] }
  - { id: c, targets: ["web-*"] }
  - { id: d, targets: ["!web-1"] }
  - { id: e, targets: ["tag:db"] }
`,
      "p.yaml",
    ),
    OPS,
  );
  const op = OPS.find((o) => o.name === "system_status")!;
  const target = { id: "web-1", tags: ["web"], groups: ["prod"] };
  assert.deepEqual(policy.index!.matching(op, target).map((r) => r.id), ["a", "b", "c"]);
});
