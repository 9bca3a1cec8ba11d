import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { compileSelector, selectorSchema } from "../../src/config/selector.ts";
import { type Scope, SCOPE_NAMES, tierOf } from "../../src/config/capabilities.ts";
import {
  couldUse,
  decide,
  type Decision,
  type DenyCode,
  type GateTarget,
} from "../../src/gate/decide.ts";
import { fullIdentity, type Identity } from "../../src/gate/identity.ts";
import { type CompiledPolicy, compilePolicy, type OperationFacts } from "../../src/gate/policy.ts";
import { DOCKER_OPERATIONS } from "../../src/ops/docker_ops.ts";
import { HOST_OPERATIONS } from "../../src/ops/host_ops.ts";
import { HTTP_OPERATIONS } from "../../src/ops/http_ops.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

/** Every operation the gateway declares. */
const OPS: readonly OperationFacts[] = [
  ...HOST_OPERATIONS,
  ...DOCKER_OPERATIONS,
  ...HTTP_OPERATIONS,
];
const op = (name: string): OperationFacts => {
  const found = OPS.find((o) => o.name === name);
  if (!found) throw new Error(`no operation ${name}`);
  return found;
};

const compile = (yaml: string): CompiledPolicy =>
  compilePolicy(parsePolicy(yaml, "test-policy.yaml"), OPS, { file: "test-policy.yaml" });

const target = (
  id: string,
  type: GateTarget["type"],
  capabilities: GateTarget["capabilities"],
  tags: string[] = [],
  groups: string[] = [],
): GateTarget => ({ id, type, capabilities, tags, groups });

const TARGETS = {
  web1: target("web-1", "ssh", ["system:read", "system:control", "file:read"], ["web"], ["prod"]),
  web2: target("web-2", "ssh", ["system:read"], ["web"], ["prod"]),
  nas: target("nas", "local", ["system:read", "system:admin", "file:read"], ["homelab"]),
  db1: target("db-1", "ssh", ["system:read", "system:control"], ["db"], ["prod"]),
  engine: target("engine", "docker", ["container:read", "container:control"], [], ["prod"]),
  api: target("api", "http", ["http:read", "http:write"], ["http-write"]),
};

const who = (subject: string, scopes: Scope[], targets?: string[]): Identity => ({
  subject,
  kind: "token",
  scopes: new Set(scopes),
  ...(targets && {
    grants: [{ scopes: new Set(scopes), targets: compileSelector(selectorSchema.parse(targets)) }],
  }),
});

const ID = {
  root: fullIdentity("local:root", "local"),
  viewer: who("token:viewer", ["system:read", "file:read", "container:read", "http:read"]),
  operator: who("token:operator", [...SCOPE_NAMES]),
  dbOperator: who("token:db-op", [...SCOPE_NAMES], ["tag:db"]),
};

const POLICY = compile(`
rules:
  - id: read-all
    tiers: [observe]
    capabilities: [system:read, file:read, container:read]
    params:
      path: { roots: [/var/log, /etc/nginx] }
      lines: { min: 10, max: 500 }
  - id: no-files-on-nas
    effect: deny
    operations: [read_file, list_directory]
    targets: [nas]
  - id: web-services
    operations: [service_control]
    targets: ["tag:web", "tag:db"]
    params:
      action: { enum: [restart, reload] }
      unit: { pattern: "nginx|php-fpm" }
  - id: nas-upgrades
    operations: [package_upgrade]
    targets: [nas]
  - id: nas-upgrades-need-approval
    effect: approve
    operations: [package_upgrade]
    targets: [nas]
    approval_ttl: 5m
  - id: http-reads
    capabilities: [http:read]
  - id: http-writes
    capabilities: [http:write]
    targets: ["tag:http-write"]
    params:
      method: { enum: [POST, PUT] }
`);

interface Row {
  readonly name: string;
  readonly identity: Identity;
  readonly target: GateTarget;
  readonly op: string;
  readonly args?: Record<string, unknown>;
  /** `allow:RULE`, `approval_required:RULE` or `deny:CODE`. */
  readonly expect: string;
  readonly reason?: RegExp;
}

const summary = (d: Decision): string =>
  d.kind === "deny" ? `deny:${d.code}` : `${d.kind}:${d.rule}`;

const TABLE: readonly Row[] = [
  // 1. unsupported target type
  {
    name: "an operation on a target type it does not run on",
    identity: ID.root,
    target: TARGETS.web1,
    op: "container_list",
    expect: "deny:unsupported_target",
    reason:
      /^Operation "container_list" does not run on ssh targets such as "web-1": it runs on docker targets$/,
  },
  // 2. target lacks capability
  {
    name: "a target without the capability",
    identity: ID.root,
    target: TARGETS.web2,
    op: "service_control",
    args: { unit: "nginx", action: "restart" },
    expect: "deny:target_capability",
    reason: /^Target "web-2" does not allow system:control, which service_control needs$/,
  },
  {
    name: "a docker engine without container:admin",
    identity: ID.root,
    target: TARGETS.engine,
    op: "system_prune",
    args: { scope: "images", all_images: false },
    expect: "deny:target_capability",
  },
  // 3. identity lacks scope
  {
    name: "a caller without the scope",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "service_control",
    args: { unit: "nginx", action: "restart" },
    expect: "deny:identity_scope",
    reason: /^You \(token:viewer\) lack the system:control scope for "service_control"$/,
  },
  // 4. identity target limits
  {
    name: "a caller limited to other targets",
    identity: ID.dbOperator,
    target: TARGETS.web1,
    op: "system_status",
    expect: "deny:identity_target",
    reason: /^You \(token:db-op\) hold system:read only on other targets than "web-1"$/,
  },
  {
    name: "a caller limited to some targets, on one of them",
    identity: ID.dbOperator,
    target: TARGETS.db1,
    op: "service_control",
    args: { unit: "nginx", action: "reload" },
    expect: "allow:web-services",
  },
  // 5. explicit deny wins over allow
  {
    name: "a deny rule matching alongside an allow rule",
    identity: ID.root,
    target: TARGETS.nas,
    op: "read_file",
    args: { path: "/var/log/syslog", max_bytes: 100, offset: 0 },
    expect: "deny:policy_deny",
    reason: /^Policy rule "no-files-on-nas" forbids "read_file" on target "nas"$/,
  },
  // 6. no matching rule
  {
    name: "no rule for the operation",
    identity: ID.root,
    target: TARGETS.engine,
    op: "container_control",
    args: { container: "web", action: "restart" },
    expect: "deny:no_rule",
    reason: /^No policy rule allows "container_control" on target "engine"$/,
  },
  {
    name: "a rule for the operation on other targets only",
    identity: ID.root,
    target: TARGETS.nas,
    op: "service_control",
    args: { unit: "nginx", action: "restart" },
    expect: "deny:target_capability",
  },
  // 7. parameter constraints
  {
    name: "an enum value in the list",
    identity: ID.operator,
    target: TARGETS.web1,
    op: "service_control",
    args: { unit: "nginx", action: "restart" },
    expect: "allow:web-services",
  },
  {
    name: "an enum value outside the list",
    identity: ID.operator,
    target: TARGETS.web1,
    op: "service_control",
    args: { unit: "nginx", action: "stop" },
    expect: "deny:param_constraint",
    reason:
      /^Policy rule "web-services" refuses "service_control" on target "web-1": parameter "action" must be one of "restart", "reload", found "stop"$/,
  },
  {
    name: "a pattern matched as a whole (alternatives included)",
    identity: ID.operator,
    target: TARGETS.web1,
    op: "service_control",
    args: { unit: "php-fpm", action: "reload" },
    expect: "allow:web-services",
  },
  {
    name: "a pattern matched only by a prefix (anchored)",
    identity: ID.operator,
    target: TARGETS.web1,
    op: "service_control",
    args: { unit: "nginx-evil", action: "reload" },
    expect: "deny:param_constraint",
    reason: /parameter "unit" must match \/nginx\|php-fpm\/, found "nginx-evil"$/,
  },
  {
    name: "a pattern matched only by a suffix (anchored)",
    identity: ID.operator,
    target: TARGETS.web1,
    op: "service_control",
    args: { unit: "evil-php-fpm", action: "reload" },
    expect: "deny:param_constraint",
  },
  {
    name: "a path under a root",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "read_file",
    args: { path: "/var/log/nginx/access.log", max_bytes: 100, offset: 0 },
    expect: "allow:read-all",
  },
  {
    name: "a path equal to a root",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "list_directory",
    args: { path: "/var/log", limit: 10 },
    expect: "allow:read-all",
  },
  {
    name: "a path under the second root",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "read_file",
    args: { path: "/etc/nginx/nginx.conf", max_bytes: 100, offset: 0 },
    expect: "allow:read-all",
  },
  {
    name: "a sibling path sharing a root's prefix (/var/logs is not under /var/log)",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "list_directory",
    args: { path: "/var/logs", limit: 10 },
    expect: "deny:param_constraint",
    reason: /parameter "path" must be under \/var\/log or \/etc\/nginx, found "\/var\/logs"$/,
  },
  {
    name: "a path inside a sibling sharing a root's prefix",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "read_file",
    args: { path: "/var/log2/secret", max_bytes: 100, offset: 0 },
    expect: "deny:param_constraint",
  },
  {
    name: "a path outside every root",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "read_file",
    args: { path: "/etc/shadow", max_bytes: 100, offset: 0 },
    expect: "deny:param_constraint",
  },
  {
    name: "a number at the minimum",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "journal_logs",
    args: { lines: 10 },
    expect: "allow:read-all",
  },
  {
    name: "a number below the minimum",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "journal_logs",
    args: { lines: 9 },
    expect: "deny:param_constraint",
    reason: /parameter "lines" must be at least 10, found 9$/,
  },
  {
    name: "a number at the maximum",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "journal_logs",
    args: { lines: 500 },
    expect: "allow:read-all",
  },
  {
    name: "a number above the maximum",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "journal_logs",
    args: { lines: 501 },
    expect: "deny:param_constraint",
    reason: /parameter "lines" must be at most 500, found 501$/,
  },
  {
    name: "a limited parameter at the default its schema filled in",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "journal_logs",
    args: { lines: 100 },
    expect: "allow:read-all",
  },
  {
    name: "a limited parameter left out (fails closed)",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "journal_logs",
    args: {},
    expect: "deny:param_constraint",
    reason: /parameter "lines" must be given, found it left out/,
  },
  {
    name: "a wrongly typed value for a min/max limit",
    identity: ID.viewer,
    target: TARGETS.web1,
    op: "journal_logs",
    args: { lines: "400" },
    expect: "deny:param_constraint",
  },
  // 9. approval outranks allow
  {
    name: "an approve rule alongside an allow rule",
    identity: ID.root,
    target: TARGETS.nas,
    op: "package_upgrade",
    args: { all: true },
    expect: "approval_required:nas-upgrades-need-approval",
  },
  // http_request's capability depends on the method
  {
    name: "an HTTP GET (observe)",
    identity: ID.viewer,
    target: TARGETS.api,
    op: "http_request:GET",
    args: { method: "GET", path: "/x" },
    expect: "allow:http-reads",
  },
  {
    name: "an HTTP POST on a target tagged for writes",
    identity: ID.operator,
    target: TARGETS.api,
    op: "http_request:POST",
    args: { method: "POST", path: "/x" },
    expect: "allow:http-writes",
  },
  {
    name: "an HTTP DELETE outside the rule's methods",
    identity: ID.operator,
    target: TARGETS.api,
    op: "http_request:DELETE",
    args: { method: "DELETE", path: "/x" },
    expect: "deny:param_constraint",
  },
  {
    name: "an HTTP POST by a caller with http:read only",
    identity: ID.viewer,
    target: TARGETS.api,
    op: "http_request:POST",
    args: { method: "POST", path: "/x" },
    expect: "deny:identity_scope",
  },
];

/** Facts for `name`, or for `http_request:METHOD` as the call pipeline builds them. */
function factsFor(name: string): OperationFacts {
  const [base, method] = name.split(":");
  const facts = op(base);
  if (method === undefined) return facts;
  const capability = method === "GET" || method === "HEAD" ? "http:read" : "http:write";
  return { ...facts, capability, tier: tierOf(capability) };
}

for (const row of TABLE) {
  Deno.test(`decide() on ${row.name}: ${row.expect}`, () => {
    const decision = decide({
      identity: row.identity,
      operation: factsFor(row.op),
      target: row.target,
      args: row.args ?? {},
    }, POLICY);
    assert.equal(summary(decision), row.expect, JSON.stringify(decision));
    if (row.reason) {
      assert.equal(decision.kind, "deny");
      if (decision.kind === "deny") assert.match(decision.reason, row.reason);
    }
  });
}

Deno.test("decide() carries the approve rule's terms with an approval_required decision", () => {
  const decision = decide({
    identity: ID.root,
    operation: op("package_upgrade"),
    target: TARGETS.nas,
    args: { all: true },
  }, POLICY);
  assert.deepEqual(decision, {
    kind: "approval_required",
    rule: "nas-upgrades-need-approval",
    approval: { ttlMs: 300_000, separationOfDuties: true, confirm: false },
  });
});

Deno.test("decide() combines two approve rules matching one target into the strictest terms", () => {
  const policy = compile(`
rules:
  - id: lenient
    effect: approve
    operations: [package_upgrade]
    confirm: true
    approval_ttl: 30m
  - id: strict
    effect: approve
    operations: [package_upgrade]
    separation_of_duties: true
    approval_ttl: 2m
`);
  const decision = decide({
    identity: ID.root,
    operation: op("package_upgrade"),
    target: TARGETS.nas,
    args: { all: true },
  }, policy);
  assert.deepEqual(decision, {
    kind: "approval_required",
    rule: "lenient",
    approval: { ttlMs: 120_000, separationOfDuties: true, confirm: false },
  });
});

Deno.test("decide() allows when one matching rule's limits refuse but another's accept", () => {
  const policy = compile(`
rules:
  - id: narrow
    operations: [journal_logs]
    params: { lines: { max: 100 } }
  - id: wide-for-web
    operations: [journal_logs]
    targets: ["tag:web"]
    params: { lines: { max: 1000 } }
`);
  const ask = (t: GateTarget) =>
    summary(
      decide(
        { identity: ID.root, operation: op("journal_logs"), target: t, args: { lines: 800 } },
        policy,
      ),
    );
  assert.equal(ask(TARGETS.web1), "allow:wide-for-web");
  assert.equal(ask(TARGETS.db1), "deny:param_constraint");
});

Deno.test("decide() applies a parameter limit to every matched operation with that name", () => {
  // `path` is a file path for read_file and a URL path for http_request: a
  // rule matching both limits both. Policies should narrow such rules by
  // capability or operation name.
  const policy = compile(`
rules:
  - id: observe
    tiers: [observe]
    params: { path: { roots: [/var/log] } }
`);
  const get = factsFor("http_request:GET");
  const decision = decide(
    { identity: ID.root, operation: get, target: TARGETS.api, args: { method: "GET", path: "/x" } },
    policy,
  );
  assert.equal(summary(decision), "deny:param_constraint");
});

Deno.test("decide() lets a deny rule win whatever the arguments and rule order", () => {
  const policy = compile(`
rules:
  - id: deny-first
    effect: deny
    operations: [service_control]
    targets: [db-1]
  - id: allow-after
    operations: [service_control]
`);
  const decision = decide({
    identity: ID.root,
    operation: op("service_control"),
    target: TARGETS.db1,
    args: { unit: "postgresql", action: "restart" },
  }, policy);
  assert.equal(summary(decision), "deny:policy_deny");
  assert.equal(decision.kind === "deny" && decision.rule, "deny-first");
});

Deno.test("decide() derives the tier from the capability, not from stale facts", () => {
  // An HTTP POST needs http:write (control). Facts built with the GET tier
  // left in place must not let an observe-only rule admit it.
  const observeOnly = compile(`
rules:
  - id: observe
    tiers: [observe]
`);
  const stale: OperationFacts = {
    ...op("http_request"),
    capability: "http:write",
    tier: "observe",
  };
  const decision = decide({
    identity: ID.root,
    operation: stale,
    target: TARGETS.api,
    args: { method: "POST", path: "/x" },
  }, observeOnly);
  assert.equal(summary(decision), "deny:no_rule");
  assert.equal(
    couldUse({ identity: ID.root, operation: stale, target: TARGETS.api }, observeOnly),
    false,
  );
});

// --- windows and lockouts -------------------------------------------------------

const WINDOWED = compile(`
rules:
  - id: read
    tiers: [observe]
  - id: night-restarts
    operations: [service_control]
    windows:
      - days: [sat]
        hours: ["22:00-02:00"]
        timezone: UTC
    lockouts:
      - from: "2025-01-11T23:00:00Z"
        until: "2025-01-12T00:30:00Z"
        reason: backup
`);

const restart = (now?: Date) =>
  decide({
    identity: ID.root,
    operation: op("service_control"),
    target: TARGETS.db1,
    args: { unit: "postgresql", action: "restart" },
    ...(now && { now }),
  }, WINDOWED);

Deno.test("decide() allows a control call inside its window, overnight included", () => {
  // 2025-01-04 is a Saturday.
  assert.equal(summary(restart(new Date("2025-01-04T22:00:00Z"))), "allow:night-restarts");
  assert.equal(summary(restart(new Date("2025-01-05T01:59:00Z"))), "allow:night-restarts");
});

Deno.test("decide() refuses a control call outside its window and names the next opening", () => {
  const decision = restart(new Date("2025-01-05T02:00:00Z"));
  assert.equal(summary(decision), "deny:outside_window");
  assert.ok(decision.kind === "deny");
  assert.match(
    decision.reason,
    /next window opens Sat 2025-01-11 22:00 UTC \(2025-01-11T22:00:00\.000Z\)/,
  );
  assert.equal(decision.rule, "night-restarts");
});

Deno.test("decide() refuses a windowed call when no clock is given (fails closed)", () => {
  const decision = restart();
  assert.equal(summary(decision), "deny:outside_window");
  assert.ok(decision.kind === "deny");
  assert.match(decision.reason, /cannot be checked without the current time/);
});

Deno.test("decide() refuses a call inside a window while a lockout lasts", () => {
  const decision = restart(new Date("2025-01-11T23:30:00Z"));
  assert.equal(summary(decision), "deny:lockout");
  assert.ok(decision.kind === "deny");
  assert.match(decision.reason, /a lockout \(backup\) is in force until/);
  assert.equal(summary(restart(new Date("2025-01-12T00:30:00Z"))), "allow:night-restarts");
});

Deno.test("decide() lets observe calls through a windowed policy at any time", () => {
  for (
    const now of [undefined, new Date("2025-01-07T12:00:00Z"), new Date("2025-01-11T23:30:00Z")]
  ) {
    const decision = decide({
      identity: ID.root,
      operation: op("system_status"),
      target: TARGETS.db1,
      args: {},
      ...(now && { now }),
    }, WINDOWED);
    assert.equal(summary(decision), "allow:read");
  }
});

Deno.test("decide() requires approval inside an approve rule's window and denies outside it", () => {
  const policy = compile(`
rules:
  - id: upgrades
    effect: approve
    operations: [package_upgrade]
    windows: [{ days: [tue], hours: ["20:00-22:00"], timezone: Europe/Berlin }]
`);
  const ask = (iso: string) =>
    summary(decide({
      identity: ID.root,
      operation: op("package_upgrade"),
      target: TARGETS.nas,
      args: { packages: ["curl"] },
      now: new Date(iso),
    }, policy));
  // 2025-01-07 is a Tuesday; Berlin is UTC+1 in January.
  assert.equal(ask("2025-01-07T19:30:00Z"), "approval_required:upgrades");
  assert.equal(ask("2025-01-07T21:30:00Z"), "deny:outside_window");
});

// --- listing agrees with calling ------------------------------------------------

/** Codes a call can get although couldUse() lists the tool: they depend on arguments or time. */
const LISTED_DENIALS: readonly DenyCode[] = ["param_constraint", "outside_window", "lockout"];

Deno.test("couldUse() agrees with decide() for every identity, operation and target", () => {
  const identities = Object.values(ID);
  const targets = Object.values(TARGETS);
  const policies = [POLICY, WINDOWED, compile("rules: []")];
  let listed = 0;
  for (const policy of policies) {
    for (const identity of identities) {
      for (const operation of OPS) {
        for (const t of targets) {
          const visible = couldUse({ identity, operation, target: t }, policy);
          const decision = decide({
            identity,
            operation,
            target: t,
            args: {},
            now: new Date("2025-01-04T23:00:00Z"),
          }, policy);
          const where = `${identity.subject} ${operation.name} ${t.id}: ${summary(decision)}`;
          if (visible) {
            listed++;
            assert.ok(
              decision.kind !== "deny" || LISTED_DENIALS.includes(decision.code),
              `listed but refused outright: ${where}`,
            );
          } else {
            assert.equal(decision.kind, "deny", `hidden but decided: ${where}`);
          }
        }
      }
    }
  }
  assert.ok(listed > 20, `some tools are listed (${listed})`);
});

Deno.test("couldUse() lists a tool whose call is refused only by its arguments", () => {
  const request = { identity: ID.operator, operation: op("service_control"), target: TARGETS.web1 };
  assert.equal(couldUse(request, POLICY), true);
  assert.equal(
    summary(decide({ ...request, args: { unit: "sshd", action: "stop" } }, POLICY)),
    "deny:param_constraint",
  );
});

Deno.test("couldUse() hides a tool that a deny rule forbids on the target", () => {
  assert.equal(
    couldUse({ identity: ID.root, operation: op("read_file"), target: TARGETS.nas }, POLICY),
    false,
  );
  assert.equal(
    couldUse({ identity: ID.root, operation: op("read_file"), target: TARGETS.web1 }, POLICY),
    true,
  );
});

// --- deny by default --------------------------------------------------------------

Deno.test("an empty policy denies everything, to every identity, with no_rule or earlier", () => {
  for (const text of ["", "rules: []\n", "version: 1\ndescription: nothing\n"]) {
    const empty = compile(text);
    assert.equal(empty.rules.length, 0);
    for (const operation of OPS) {
      for (const t of Object.values(TARGETS)) {
        const decision = decide(
          { identity: ID.root, operation, target: t, args: {}, now: new Date() },
          empty,
        );
        assert.equal(decision.kind, "deny", `${operation.name} on ${t.id}`);
        assert.ok(couldUse({ identity: ID.root, operation, target: t }, empty) === false);
      }
    }
    const supported = decide(
      { identity: ID.root, operation: op("system_status"), target: TARGETS.web1, args: {} },
      empty,
    );
    assert.equal(summary(supported), "deny:no_rule");
  }
});

Deno.test("an identity with no scopes can do nothing, even under an allow-all policy", () => {
  const allowAll = compile("rules: [{ id: everything }]\n");
  const nobody = who("token:nobody", []);
  for (const operation of OPS) {
    for (const t of Object.values(TARGETS)) {
      assert.equal(
        decide({ identity: nobody, operation, target: t, args: {} }, allowAll).kind,
        "deny",
      );
      assert.equal(couldUse({ identity: nobody, operation, target: t }, allowAll), false);
    }
  }
});

Deno.test("decide() fails closed on parameters that widen a limited one", async (t) => {
  const { compilePolicy } = await import("../../src/gate/policy.ts");
  const { parsePolicy } = await import("../../src/config/load.ts");
  const { CATALOG } = await import("../../src/ops/catalog.ts");
  const policy = compilePolicy(
    parsePolicy(
      `rules:
  - id: limited
    operations: [package_upgrade, system_prune, compose_up, journal_logs, container_control]
    params:
      packages: { enum: [nginx, curl] }
      scope: { enum: [images] }
      services: { enum: [web] }
      unit: { pattern: "nginx(\\\\.service)?" }
      timeout_s: { max: 60, optional: true }
      project_dir: { roots: [/srv] }
`,
      "p.yaml",
    ),
    CATALOG,
  );
  const target = {
    id: "h",
    type: "ssh" as const,
    capabilities: ["system:read", "system:admin", "stack:control"] as const,
    tags: [],
    groups: [],
  };
  const engine = {
    id: "e",
    type: "docker" as const,
    capabilities: ["container:admin", "container:control"] as const,
    tags: [],
    groups: [],
  };
  const ask = (name: string, args: Record<string, unknown>, on: typeof target | typeof engine) =>
    decide(
      { identity: ID.root, operation: CATALOG.find((o) => o.name === name)!, target: on, args },
      policy,
    );
  const cases: [string, Record<string, unknown>, "ssh" | "docker", "allow" | RegExp][] = [
    ["package_upgrade", { packages: ["nginx"] }, "ssh", "allow"],
    ["package_upgrade", { packages: ["nginx", "curl"] }, "ssh", "allow"],
    ["package_upgrade", { packages: ["nginx", "openssh-server"] }, "ssh", /found "openssh-server"/],
    ["package_upgrade", { all: true }, "ssh", /parameter "all" takes the call beyond the limits/],
    ["system_prune", { scope: "images", all_images: false }, "docker", "allow"],
    ["system_prune", { scope: "images", all_images: true }, "docker", /parameter "all_images"/],
    ["system_prune", { scope: "containers", all_images: false }, "docker", /must be one of/],
    ["compose_up", { project_dir: "/srv/a", services: ["web"] }, "ssh", "allow"],
    ["compose_up", { project_dir: "/srv/a", services: [] }, "ssh", /every service/],
    ["compose_up", { services: ["web"] }, "ssh", /"project_dir" must be given/],
    ["journal_logs", { lines: 10 }, "ssh", /which means every unit/],
    ["journal_logs", { lines: 10, unit: "nginx.service" }, "ssh", "allow"],
    ["journal_logs", { lines: 10, unit: "nginx.socket" }, "ssh", /must match/],
    ["container_control", { container: "x", action: "stop" }, "docker", "allow"],
    ["container_control", { container: "x", action: "stop", timeout_s: 61 }, "docker", /at most/],
  ];
  for (const [name, args, type, expected] of cases) {
    await t.step(`${name} ${JSON.stringify(args)}`, () => {
      const decision = ask(name, args, type === "ssh" ? target : engine);
      if (typeof expected === "string") {
        assert.equal(decision.kind, expected, JSON.stringify(decision));
        return;
      }
      assert.equal(decision.kind, "deny", JSON.stringify(decision));
      if (decision.kind === "deny") {
        assert.equal(decision.code, "param_constraint");
        assert.match(decision.reason, expected);
      }
    });
  }
});
