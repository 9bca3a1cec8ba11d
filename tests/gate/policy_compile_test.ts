import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parsePolicy } from "../../src/config/load.ts";
import {
  compilePolicy,
  DEFAULT_APPROVAL_TTL_MS,
  DEFAULT_WINDOW_TIERS,
  type OperationFacts,
} from "../../src/gate/policy.ts";
import { DOCKER_OPERATIONS } from "../../src/ops/docker_ops.ts";
import { HOST_OPERATIONS } from "../../src/ops/host_ops.ts";
import { HTTP_OPERATIONS } from "../../src/ops/http_ops.ts";

const OPS: readonly OperationFacts[] = [
  ...HOST_OPERATIONS,
  ...DOCKER_OPERATIONS,
  ...HTTP_OPERATIONS,
];

const compile = (yaml: string) =>
  compilePolicy(parsePolicy(yaml, "p.yaml"), OPS, { file: "p.yaml" });

/** The compile problems of a policy, as `path: message`. */
function compileProblems(yaml: string): string[] {
  try {
    compile(yaml);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail("expected the policy not to compile");
}

Deno.test("compilePolicy() refuses a rule whose operation names are all unknown", () => {
  const [problem, ...rest] = compileProblems(
    "rules:\n  - { id: r, operations: [restart_everything] }\n",
  );
  assert.deepEqual(rest, []);
  assert.match(
    problem,
    /^rules\[0\]\.operations: p\.yaml: Rule "r" names unknown operation "restart_everything": expected names from system_status, .*http_health$/,
  );
});

Deno.test("compilePolicy() refuses an unknown name next to known ones (a typo must not fail open)", () => {
  const problems = compileProblems(`rules:
  - id: no-destruction
    effect: deny
    operations: [system_prune, contianer_remove, imag_pull]
`);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /names unknown operations "contianer_remove", "imag_pull": expected/);
});

Deno.test("compilePolicy() refuses literal names that the rule's own filters exclude", () => {
  const [problem] = compileProblems(
    "rules:\n  - { id: r, operations: [service_control], tiers: [observe] }\n",
  );
  assert.match(problem, /^rules\[0\]\.operations: p\.yaml: Rule "r" matches no operation/);
});

Deno.test("compilePolicy() accepts globs that match nothing yet", () => {
  const policy = compile(`rules:
  - { id: future-prunes, effect: deny, operations: ["volume_*"] }
  - { id: diag, capabilities: [network:diag] }
`);
  assert.equal(policy.rules.length, 2);
  assert.equal(policy.rules[0].matchesOperation(OPS[0]), false);
});

Deno.test("compilePolicy() refuses a parameter limit that no matched operation has", () => {
  const [problem, ...rest] = compileProblems(`rules:
  - id: r
    operations: [service_control, service_status]
    params:
      lines: { max: 10 }
`);
  assert.deepEqual(rest, []);
  assert.equal(
    problem,
    'rules[0].params.lines: p.yaml: Rule "r" limits parameter "lines", but none of the operations it matches has it',
  );
});

Deno.test("compilePolicy() accepts a parameter limit that one of several matched operations has", () => {
  const policy = compile(`rules:
  - id: observe
    tiers: [observe]
    params:
      lines: { max: 10 }
      tail: { max: 10 }
`);
  assert.equal(
    policy.rules[0].checkParams({ lines: 11 }, { paramNames: ["lines", "unit"] }),
    'parameter "lines" must be at most 10, found 11',
  );
  assert.equal(policy.rules[0].checkParams({ tail: 5 }, { paramNames: ["tail"] }), undefined);
});

Deno.test("compilePolicy() reports every problem at once, with the file name", () => {
  const problems = compileProblems(`rules:
  - { id: a, operations: [nope] }
  - { id: b, operations: [service_control], params: { tail: { max: 1 } } }
`);
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^rules\[0\]\.operations: p\.yaml: /);
  assert.match(problems[1], /^rules\[1\]\.params\.tail: p\.yaml: /);
});

Deno.test("compilePolicy() anchors patterns, so an alternative cannot match a prefix", () => {
  const policy = compile(`rules:
  - id: r
    operations: [service_control]
    params: { unit: { pattern: "a|b" } }
`);
  const check = (args: Record<string, unknown>) =>
    policy.rules[0].checkParams(args, { paramNames: ["unit", "action"] });
  assert.equal(check({ unit: "a" }), undefined);
  assert.equal(check({ unit: "b" }), undefined);
  assert.match(check({ unit: "ab" }) ?? "", /must match \/a\|b\//);
  assert.match(check({ unit: "xa" }) ?? "", /must match/);
  assert.match(check({ unit: 1 }) ?? "", /must match/, "a non-string never matches a pattern");
});

Deno.test("compilePolicy() compares roots by whole path segments", () => {
  const policy = compile(`rules:
  - id: r
    operations: [read_file]
    params: { path: { roots: [/var/log, /] } }
  - id: s
    operations: [read_file]
    params: { path: { roots: [/var/log] } }
`);
  assert.equal(
    policy.rules[0].checkParams({ path: "/etc/passwd" }, { paramNames: ["path"] }),
    undefined,
    "/ holds everything",
  );
  const check = (args: Record<string, unknown>) =>
    policy.rules[1].checkParams(args, { paramNames: ["path"] });
  assert.equal(check({ path: "/var/log" }), undefined);
  assert.equal(check({ path: "/var/log/a/b" }), undefined);
  assert.match(check({ path: "/var/logs" }) ?? "", /must be under \/var\/log/);
  assert.match(check({ path: "/var/log-old/x" }) ?? "", /must be under/);
  assert.match(check({ path: "/var" }) ?? "", /must be under/);
});

Deno.test("compilePolicy() fills in approval terms: 15 minutes, separation of duties unless confirm", () => {
  const policy = compile(`rules:
  - { id: plain, effect: approve, operations: [service_control] }
  - { id: confirm, effect: approve, operations: [service_control], confirm: true, approval_ttl: 90s }
  - { id: sod-off, effect: approve, operations: [service_control], separation_of_duties: false }
  - { id: allow, operations: [service_control] }
`);
  const [plain, confirm, sodOff, allow] = policy.rules;
  assert.deepEqual(plain.approval, {
    ttlMs: DEFAULT_APPROVAL_TTL_MS,
    separationOfDuties: true,
    confirm: false,
  });
  assert.equal(DEFAULT_APPROVAL_TTL_MS, 15 * 60_000);
  assert.deepEqual(confirm.approval, { ttlMs: 90_000, separationOfDuties: false, confirm: true });
  assert.deepEqual(sodOff.approval, {
    ttlMs: DEFAULT_APPROVAL_TTL_MS,
    separationOfDuties: false,
    confirm: false,
  });
  assert.equal(allow.approval, undefined);
});

Deno.test("compilePolicy() builds a schedule only for rules with windows or lockouts", () => {
  const policy = compile(`rules:
  - { id: always, operations: [service_control] }
  - id: nights
    operations: [service_control]
    windows: [{ hours: "22:00-06:00" }]
  - id: frozen
    operations: [service_control]
    lockouts: [{ from: "2025-12-20T00:00:00Z", until: "2026-01-06T00:00:00Z" }]
    window_tiers: [control]
`);
  const [always, nights, frozen] = policy.rules;
  assert.equal(always.schedule, undefined);
  assert.deepEqual(nights.schedule?.tiers, DEFAULT_WINDOW_TIERS);
  assert.deepEqual(DEFAULT_WINDOW_TIERS, ["control", "admin"]);
  assert.equal(nights.schedule?.windows.length, 1);
  assert.deepEqual(nights.schedule?.lockouts, []);
  assert.deepEqual(frozen.schedule?.tiers, ["control"]);
  assert.deepEqual(frozen.schedule?.windows, []);
});

Deno.test("compilePolicy() carries rate limits and freezes what it returns", () => {
  const policy = compile(`rules:
  - { id: r }
rate_limits:
  admin: { per_minute: 1 }
`);
  assert.deepEqual(policy.rateLimits, { admin: { per_minute: 1 } });
  assert.ok(Object.isFrozen(policy));
  assert.ok(Object.isFrozen(policy.rules));
  assert.ok(Object.isFrozen(policy.rules[0]));
  assert.throws(() => (policy.rules as unknown[]).push({}), TypeError);
  assert.equal(compile("rules: []").rateLimits, undefined);
});

Deno.test("compilePolicy() matches operations by name glob, tier and capability together", () => {
  const policy = compile(`rules:
  - { id: r, operations: ["container_*"], tiers: [control] }
  - { id: s, capabilities: [container:read, stack:read] }
`);
  const names = (i: number) =>
    OPS.filter((op) => policy.rules[i].matchesOperation(op)).map((op) => op.name);
  assert.deepEqual(names(0), ["container_control"]);
  assert.deepEqual(names(1), [
    "container_list",
    "container_inspect",
    "container_logs",
    "container_stats",
    "image_list",
    "engine_info",
    "engine_disk_usage",
    "stack_list",
    "stack_status",
  ]);
});
