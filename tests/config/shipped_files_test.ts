import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { loadPolicy, loadTargets, parsePolicy, parseTargets } from "../../src/config/load.ts";
import { findSecrets, type SecretResolver } from "../../src/config/secret.ts";
import { SCOPE_NAMES } from "../../src/config/capabilities.ts";
import { couldUse, decide, type Decision } from "../../src/gate/decide.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { type CompiledPolicy, compilePolicy, type OperationFacts } from "../../src/gate/policy.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import { DOCKER_OPERATIONS } from "../../src/ops/docker_ops.ts";
import { HOST_OPERATIONS } from "../../src/ops/host_ops.ts";
import { HTTP_OPERATIONS } from "../../src/ops/http_ops.ts";
import { PVE_OPERATIONS } from "../../src/ops/pve_ops.ts";

const ROOT = new URL("../../", import.meta.url);
const EXAMPLE = fromFileUrl(new URL("targets.example.yaml", ROOT));
const POLICY_DIR = new URL("policy/", ROOT);

/** Every operation the gateway declares, whether or not CATALOG lists it yet. */
const ALL_OPS: readonly OperationFacts[] = [
  ...HOST_OPERATIONS,
  ...DOCKER_OPERATIONS,
  ...HTTP_OPERATIONS,
  ...PVE_OPERATIONS,
];

/** Answers every reference with a value derived from its name, and records it. */
function everythingResolver(): SecretResolver & { values: string[] } {
  const values: string[] = [];
  const make = (what: string) => {
    const value = `resolved-${what}-${crypto.randomUUID()}`;
    values.push(value);
    return value;
  };
  return {
    values,
    env: (name) => make(name),
    readFile: (path) => Promise.resolve(make(path)),
  };
}

async function shippedPolicies(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(POLICY_DIR)) {
    if (entry.isFile && entry.name.endsWith(".yaml")) names.push(entry.name);
  }
  return names.sort();
}

Deno.test("targets.example.yaml loads with secrets resolved through an injected resolver", async () => {
  const resolver = everythingResolver();
  // Placeholder key and certificate text: the reference checks have their own tests.
  const registry = await loadTargets(EXAMPLE, { secrets: resolver, checkReferences: false });
  const types = new Set(registry.targets.map((t) => t.type));
  assert.deepEqual([...types].sort(), ["docker", "http", "local", "proxmox", "ssh"]);
  const secrets = findSecrets(registry.targets);
  assert.ok(secrets.length >= 10, `${secrets.length} secret references`);
  assert.ok(secrets.every((s) => s.secret.resolved));
  assert.equal(resolver.values.length, secrets.length);
  const printed = JSON.stringify(registry.targets) + Deno.inspect(registry, { depth: Infinity });
  for (const value of resolver.values) assert.ok(!printed.includes(value));
});

Deno.test("targets.example.yaml shows every target form and field", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const registry = await parseTargets(text, EXAMPLE, { resolveSecrets: false });
  const ssh = registry.targets.filter((t) => t.type === "ssh");
  const docker = registry.targets.filter((t) => t.type === "docker");
  const http = registry.targets.filter((t) => t.type === "http");
  // ssh: sudo none | all | list; host_key and known_hosts; key, password, agent; via.
  assert.deepEqual(
    new Set(ssh.map((t) => (Array.isArray(t.sudo) ? "list" : t.sudo))),
    new Set(["none", "all", "list"]),
  );
  assert.ok(ssh.some((t) => t.connection.host_key) && ssh.some((t) => t.connection.known_hosts));
  assert.ok(ssh.some((t) => t.connection.key) && ssh.some((t) => t.connection.password));
  assert.ok(ssh.some((t) => t.connection.agent) && ssh.some((t) => t.connection.passphrase));
  assert.ok(ssh.some((t) => t.connection.via));
  // docker: unix socket and tcp with TLS.
  assert.ok(docker.some((t) => "socket" in t.connection));
  assert.ok(docker.some((t) => "tls" in t.connection && t.connection.tls.cert));
  // http: each auth kind, and no auth.
  const kinds = new Set(
    http.map((t) => t.connection.auth ? Object.keys(t.connection.auth)[0] : "none"),
  );
  assert.deepEqual([...kinds].sort(), ["basic", "bearer", "header", "none"]);
  assert.ok(http.some((t) => t.connection.tls.ca));
  assert.ok(http.some((t) => t.connection.redirects === "same_origin"));
  assert.ok(http.some((t) => t.connection.allow_addresses.length > 0));
  // Every key the schemas know appears in the file at least once.
  for (
    const key of [
      "version",
      "description",
      "capabilities",
      "tags",
      "groups",
      "constraints",
      "timeout_ms",
      "concurrency",
      "output_cap_bytes",
      "files",
      "roots",
      "port",
      "keepalive_ms",
      "idle_close_ms",
      "max_channels",
      "connect_timeout_ms",
      "methods",
      "paths",
      "headers",
      "response_cap_bytes",
    ]
  ) {
    assert.match(text, new RegExp(`^\\s*(- )?${key}:`, "m"), `${key} is shown`);
  }
});

Deno.test("check-config accepts targets.example.yaml with --no-resolve and prints no values", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      "main.ts",
      "check-config",
      "targets.example.yaml",
      "--no-resolve",
      "--policy",
      "policy/production.yaml",
    ],
    cwd: fromFileUrl(ROOT),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(out, /^targets\.example\.yaml: \d+ target\(s\)$/m);
  assert.match(out, /<secret from GRAFANA_TOKEN>/);
  assert.match(out, /^OK$/m);
});

for (const name of await shippedPolicies()) {
  Deno.test(`policy/${name} parses and compiles against CATALOG and every declared operation`, async () => {
    const { policy, file } = await loadPolicy(fromFileUrl(new URL(name, POLICY_DIR)));
    assert.ok(policy.rules.length > 0);
    assert.ok(policy.description.length > 0, "the policy says what it is for");
    const compiled = compilePolicy(policy, CATALOG, { file });
    assert.equal(compiled.rules.length, policy.rules.length);
    compilePolicy(policy, ALL_OPS, { file });
    for (const rule of policy.rules) assert.ok(rule.description, `rule ${rule.id} explains itself`);
  });
}

Deno.test("the shipped policies include default, homelab and production", async () => {
  const names = await shippedPolicies();
  for (const name of ["default.yaml", "homelab.yaml", "production.yaml"]) {
    assert.ok(names.includes(name), name);
  }
});

// --- what the shipped policies mean -------------------------------------------------

async function compiled(name: string): Promise<CompiledPolicy> {
  const text = await Deno.readTextFile(new URL(name, POLICY_DIR));
  return compilePolicy(parsePolicy(text, name), ALL_OPS, { file: name });
}

const op = (name: string) => ALL_OPS.find((o) => o.name === name)!;
const root = fullIdentity("local:root", "local");
const host = (tags: string[], groups: string[] = []) => ({
  id: "h",
  type: "ssh" as const,
  capabilities: [
    "system:read",
    "system:control",
    "system:admin",
    "stack:read",
    "stack:control",
    "file:read",
    "network:read",
  ] as const,
  tags,
  groups,
});
const engine = (tags: string[], groups: string[] = []) => ({
  id: "e",
  type: "docker" as const,
  capabilities: [
    "container:read",
    "container:control",
    "container:admin",
    "stack:read",
    "stack:control",
  ] as const,
  tags,
  groups,
});
const api = (tags: string[]) => ({
  id: "a",
  type: "http" as const,
  capabilities: ["http:read", "http:write"] as const,
  tags,
  groups: [],
});
const cluster = (tags: string[]) => ({
  id: "p",
  type: "proxmox" as const,
  capabilities: [
    "guest:read",
    "guest:control",
    "guest:admin",
    "backup:read",
    "backup:control",
  ] as const,
  tags,
  groups: [],
});
const kind = (d: Decision) => d.kind === "deny" ? `deny:${d.code}` : `${d.kind}:${d.rule}`;
const post = { ...op("http_request"), capability: "http:write" as const, tier: "control" as const };

Deno.test("policy/default.yaml allows observe operations and nothing else", async () => {
  const policy = await compiled("default.yaml");
  for (const operation of ALL_OPS) {
    const t = operation.targetTypes.includes("docker")
      ? engine([])
      : operation.targetTypes.includes("http")
      ? api([])
      : operation.targetTypes.includes("proxmox")
      ? cluster([])
      : host([]);
    const visible = couldUse({ identity: root, operation, target: t }, policy);
    assert.equal(visible, operation.tier === "observe", operation.name);
  }
  assert.equal(
    kind(
      decide(
        { identity: root, operation: post, target: api([]), args: { method: "POST" } },
        policy,
      ),
    ),
    "deny:no_rule",
  );
});

Deno.test("policy/homelab.yaml: control on homelab targets, confirmed admin, tagged HTTP writes", async () => {
  const policy = await compiled("homelab.yaml");
  const ask = (
    operation: OperationFacts,
    target: ReturnType<typeof host | typeof engine | typeof api>,
    args: Record<string, unknown> = {},
  ) => kind(decide({ identity: root, operation, target, args }, policy));
  assert.equal(ask(op("system_status"), host([])), "allow:observe-everything");
  assert.equal(
    ask(op("container_logs"), engine([]), { container: "x", tail: 100 }),
    "allow:observe-containers",
  );
  assert.equal(
    ask(op("container_logs"), engine([]), { container: "x", tail: 9000 }),
    "deny:param_constraint",
  );
  assert.equal(
    ask(op("service_control"), host(["homelab"]), { unit: "nginx", action: "restart" }),
    "allow:homelab-services",
  );
  assert.equal(
    ask(op("service_control"), host(["homelab"]), { unit: "sshd", action: "stop" }),
    "deny:param_constraint",
  );
  assert.equal(
    ask(op("service_control"), host(["homelab"]), { unit: "tailscaled.service", action: "stop" }),
    "deny:param_constraint",
  );
  assert.equal(
    ask(op("service_control"), host([]), { unit: "nginx", action: "restart" }),
    "deny:no_rule",
  );
  assert.equal(
    ask(op("container_control"), engine(["homelab"]), {
      container: "x",
      action: "stop",
      timeout_s: 30,
    }),
    "allow:homelab-containers",
  );
  assert.equal(
    ask(op("compose_up"), host(["homelab"]), { project_dir: "/opt/stacks/media" }),
    "allow:homelab-stacks",
  );
  assert.equal(
    ask(op("compose_up"), host(["homelab"]), { project_dir: "/home/me/stack" }),
    "deny:param_constraint",
  );
  assert.equal(
    ask(op("package_upgrade"), host(["homelab"]), { all: true }),
    "approval_required:homelab-admin-confirm",
  );
  assert.equal(
    ask(op("system_prune"), engine(["homelab"]), { scope: "images" }),
    "approval_required:homelab-admin-confirm",
  );
  assert.equal(ask(op("system_prune"), engine([]), { scope: "images" }), "deny:no_rule");
  const approval = decide({
    identity: root,
    operation: op("image_pull"),
    target: engine(["homelab"]),
    args: { image: "nginx:1" },
  }, policy);
  assert.ok(approval.kind === "approval_required");
  assert.deepEqual(approval.approval, { ttlMs: 600_000, separationOfDuties: false, confirm: true });
  assert.equal(
    ask(post, api(["http-write"]), { method: "POST", path: "/x" }),
    "allow:homelab-http-writes",
  );
  assert.equal(
    ask(post, api(["http-write"]), { method: "DELETE", path: "/x" }),
    "deny:param_constraint",
  );
  assert.equal(ask(post, api(["homelab"]), { method: "POST", path: "/x" }), "deny:no_rule");
});

Deno.test("policy/production.yaml: approvals with separation of duties, windows and hard denials", async () => {
  const policy = await compiled("production.yaml");
  // 2025-01-07 is a Tuesday; Berlin is UTC+1 in January.
  const tuesdayNight = new Date("2025-01-07T22:30:00Z");
  const tuesdayNoon = new Date("2025-01-07T11:00:00Z");
  const ask = (
    operation: OperationFacts,
    target: ReturnType<typeof host | typeof engine | typeof api>,
    args: Record<string, unknown> = {},
    now = tuesdayNoon,
  ) => kind(decide({ identity: root, operation, target, args, now }, policy));
  assert.equal(ask(op("system_status"), host([], ["prod"])), "allow:observe-everything");
  assert.equal(
    ask(op("service_control"), host([], ["prod"]), { unit: "nginx", action: "restart" }),
    "approval_required:control-needs-approval",
  );
  assert.equal(
    ask(post, api([]), { method: "POST", path: "/x" }),
    "approval_required:control-needs-approval",
  );
  const control = decide({
    identity: root,
    operation: op("container_control"),
    target: engine([]),
    args: { container: "x", action: "restart" },
    now: tuesdayNoon,
  }, policy);
  assert.ok(control.kind === "approval_required");
  assert.equal(control.approval?.separationOfDuties, true);
  // Admin: approval inside the window, denied outside it.
  assert.equal(
    ask(op("package_upgrade"), host([], ["prod"]), { all: true }, tuesdayNight),
    "approval_required:admin-in-window",
  );
  assert.equal(
    ask(op("package_upgrade"), host([], ["prod"]), { all: true }, tuesdayNoon),
    "deny:outside_window",
  );
  // Lockouts: the year-end freeze, inside a Tuesday window.
  assert.equal(
    ask(op("package_upgrade"), host([], ["prod"]), { all: true }, new Date("2025-12-23T22:30:00Z")),
    "deny:lockout",
  );
  // Hard denials.
  assert.equal(
    ask(op("system_prune"), engine([], ["prod"]), { scope: "images" }, tuesdayNight),
    "deny:policy_deny",
  );
  assert.equal(
    ask(op("system_prune"), engine([], ["staging"]), { scope: "images" }, tuesdayNight),
    "approval_required:admin-in-window",
  );
  assert.equal(
    ask(op("container_remove"), engine(["stateful"], ["prod"]), { container: "x" }, tuesdayNight),
    "deny:policy_deny",
  );
  assert.equal(
    ask(op("package_upgrade"), host(["db"], ["prod"]), { all: true }, tuesdayNight),
    "deny:policy_deny",
  );
  assert.equal(
    ask(op("service_control"), host(["bastion"]), { unit: "sshd", action: "restart" }),
    "deny:policy_deny",
  );
});

Deno.test("policy/production.yaml declares identities and auth that the gateway can use", async () => {
  const { policy } = await loadPolicy(fromFileUrl(new URL("production.yaml", POLICY_DIR)));
  const roles = policy.identities?.roles ?? {};
  assert.deepEqual(Object.keys(roles).sort(), ["approver", "operator", "viewer"]);
  assert.ok(roles.approver.scopes.includes("approvals:grant"));
  assert.ok(!roles.operator.scopes.includes("approvals:grant"));
  for (const role of Object.values(roles)) {
    for (const scope of role.scopes) assert.ok(SCOPE_NAMES.includes(scope));
  }
  const kinds = new Set(
    policy.identities?.bindings.flatMap((b) =>
      ["token", "oidc_subject", "oidc_email", "oidc_group", "tailscale", "local"].filter((k) =>
        (b as Record<string, unknown>)[k] !== undefined
      )
    ),
  );
  assert.deepEqual([...kinds].sort(), [
    "local",
    "oidc_email",
    "oidc_group",
    "oidc_subject",
    "tailscale",
    "token",
  ]);
  assert.match(policy.auth.resource ?? "", /^https:\/\/.+\/mcp$/);
  assert.ok(policy.rate_limits?.control && policy.rate_limits.admin);
});
