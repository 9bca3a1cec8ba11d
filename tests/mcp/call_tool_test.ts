import assert from "node:assert/strict";
import { parsePolicy, parseTargets } from "../../src/config/load.ts";
import type { Target } from "../../src/config/targets_schema.ts";
import type { ExecOutcome } from "../../src/exec/host.ts";
import type { Plan } from "../../src/exec/plan.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import { type CallDeps, CallError, callTool } from "../../src/mcp/call_tool.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import type { AuditEntry } from "../../src/audit/record.ts";
import { SecretScanner } from "../../src/audit/redact.ts";

const TARGETS = `
targets:
  - id: local
    type: local
    capabilities: [system:read, system:control, file:read]
    files: { roots: [/var/log] }
  - id: web-1
    type: ssh
    tags: [web]
    capabilities: [system:read]
    connection: { host: 127.0.0.1, port: 2201, user: ops, key: "\${K}", host_key: "SHA256:${
  "A".repeat(43)
}" }
  - id: web-2
    type: ssh
    tags: [web]
    capabilities: [system:read]
    connection: { host: 127.0.0.1, port: 2202, user: ops, key: "\${K}", host_key: "SHA256:${
  "A".repeat(43)
}" }
  - id: db-1
    type: ssh
    tags: [db]
    capabilities: [system:read]
    connection: { host: 127.0.0.1, port: 2203, user: ops, key: "\${K}", host_key: "SHA256:${
  "A".repeat(43)
}" }
`;

const POLICY = `
rules:
  - id: read
    tiers: [observe]
  - id: no-db
    effect: deny
    targets: ["tag:db"]
  - id: control-needs-approval
    effect: approve
    tiers: [control]
`;

const SECRET = "s3cr3t-key-material";

function op(name: string) {
  const found = CATALOG.find((o) => o.name === name);
  if (!found) throw new Error(`no operation ${name}`);
  return found;
}

/** A fake executor that records what it was asked to run. */
function fakeExecutor(answer: (target: Target, plan: Plan) => ExecOutcome) {
  const calls: { target: string; plan: Plan }[] = [];
  return {
    calls,
    run(target: Target, plan: Plan): Promise<ExecOutcome> {
      calls.push({ target: target.id, plan });
      return Promise.resolve(answer(target, plan));
    },
  };
}

const UNAME_OK = (argv: readonly string[]) => ({
  argv,
  exitCode: 0,
  signal: null,
  stdout: argv[0] === "uname"
    ? "host 6.1.0\n"
    : argv[0] === "cat"
    ? `123.4 100.0\n0.10 0.20 0.30 1/100 42\nMemTotal: 1000 kB\nMemAvailable: 500 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n`
    : "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 1000 500 500 50% /\n",
  stderr: "",
  truncated: false,
  bytes: 10,
});

async function setup(answer?: (target: Target, plan: Plan) => ExecOutcome) {
  const registry = await parseTargets(TARGETS, "targets.yaml", {
    secrets: { env: () => SECRET, readFile: () => Promise.reject(new Error("no files")) },
    // Placeholder secrets: the key and CA checks at load have their own tests.
    checkReferences: false,
  });
  const policy = compilePolicy(parsePolicy(POLICY, "policy.yaml"), CATALOG);
  const executor = fakeExecutor(
    answer ?? ((_t, plan) => ({
      ok: true,
      durationMs: 1,
      result: {
        kind: "exec",
        commands: plan.kind === "exec" ? plan.commands.map(UNAME_OK) : [],
      },
    })),
  );
  const records: AuditEntry[] = [];
  const scanner = new SecretScanner([SECRET]);
  const deps: CallDeps = {
    registry,
    policy,
    executor,
    audit: {
      append(entry) {
        records.push(entry);
        return Promise.resolve();
      },
    },
    redact: (v) => v as Record<string, unknown>,
    scrub: (t) => scanner.scan(t),
  };
  return { deps, executor, records };
}

const admin = fullIdentity("token:admin", "token");

Deno.test("callTool() runs an allowed call and links its decided and finished records", async () => {
  const { deps, executor, records } = await setup();
  const out = await callTool(deps, {
    identity: admin,
    operation: op("system_status"),
    args: { target: "local" },
  });
  assert.equal(out.isError, false);
  assert.equal(out.result.results[0].status, "ok");
  assert.equal(executor.calls.length, 1);
  assert.deepEqual(records.map((r) => r.event), ["decided", "finished"]);
  assert.equal(records[0].call, records[1].call);
  assert.equal(records[0].plan_digest, records[1].plan_digest);
  assert.equal(records[1].status, "ok");
});

Deno.test("callTool() denies by policy without calling the executor", async () => {
  const { deps, executor, records } = await setup();
  const out = await callTool(deps, {
    identity: admin,
    operation: op("system_status"),
    args: { target: "db-1" },
  });
  assert.equal(out.isError, true);
  assert.equal(out.result.results[0].status, "denied");
  assert.equal(out.result.results[0].error?.code, "policy_deny");
  assert.equal(executor.calls.length, 0);
  assert.deepEqual(records.map((r) => [r.event, r.decision, r.reason]), [[
    "denied",
    "deny",
    "policy_deny",
  ]]);
});

Deno.test("callTool() denies when the target lacks the capability, without calling the executor", async () => {
  const { deps, executor } = await setup();
  const out = await callTool(deps, {
    identity: admin,
    operation: op("list_directory"),
    args: { target: "web-1", path: "/var/log" },
  });
  assert.equal(out.result.results[0].error?.code, "target_capability");
  assert.equal(executor.calls.length, 0);
});

Deno.test("callTool() on dry run returns the plan and runs nothing", async () => {
  const { deps, executor, records } = await setup();
  const out = await callTool(deps, {
    identity: admin,
    operation: op("system_status"),
    args: { targets: ["tag:web"], dry_run: true },
  });
  assert.deepEqual(out.result.results.map((r) => r.status), ["planned", "planned"]);
  const plan = out.result.results[0].plan as {
    remote_command_lines: string[];
    commands_in_script: string[];
  };
  // system_status's three commands run as one remote script: that is the line shown.
  assert.equal(plan.remote_command_lines.length, 1);
  assert.equal(plan.commands_in_script[0], "exec 'uname' '-nr'");
  assert.ok(plan.remote_command_lines[0].startsWith("(exec 'uname' '-nr'); printf"));
  assert.equal(executor.calls.length, 0);
  assert.deepEqual(records.map((r) => r.event), ["decided", "decided"]);
});

Deno.test("callTool() refuses a call needing approval when approvals are off, and runs nothing", async () => {
  const { deps, executor } = await setup();
  const out = await callTool(deps, {
    identity: admin,
    operation: op("service_control"),
    args: { target: "local", unit: "nginx.service", action: "restart" },
  });
  assert.equal(out.result.results[0].status, "approval_required");
  assert.equal(out.result.results[0].error?.code, "approval_unavailable");
  assert.equal(executor.calls.length, 0);
});

Deno.test("callTool() fans out in registry order and reports denied targets instead of dropping them", async () => {
  const { deps, executor, records } = await setup();
  const progress: string[] = [];
  const out = await callTool(deps, {
    identity: admin,
    operation: op("system_status"),
    args: { targets: ["web-*", "db-1", "local"] },
    onProgress: (done, total, message) => progress.push(`${done}/${total} ${message}`),
  });
  assert.deepEqual(out.result.results.map((r) => [r.target, r.status]), [
    ["local", "ok"],
    ["web-1", "ok"],
    ["web-2", "ok"],
    ["db-1", "denied"],
  ]);
  assert.equal(out.result.summary, "4 targets: 3 ok, 1 denied");
  assert.equal(executor.calls.length, 3);
  assert.equal(progress.length, 4);
  assert.match(progress.at(-1)!, /^4\/4 /);
  const fanouts = new Set(records.map((r) => r.fanout));
  assert.equal(fanouts.size, 1);
  assert.ok(out.result.fanout_id && fanouts.has(out.result.fanout_id));
});

Deno.test("callTool() with fail_fast skips targets after the first failure", async () => {
  const { deps, executor } = await setup(() => ({
    ok: false,
    durationMs: 1,
    error: { code: "unreachable", message: "The target refused the connection" },
  }));
  const out = await callTool(deps, {
    identity: admin,
    operation: op("system_status"),
    args: { targets: "web-*", forks: 1, fail_fast: true },
  });
  assert.deepEqual(out.result.results.map((r) => r.status), ["unreachable", "skipped"]);
  assert.equal(executor.calls.length, 1);
});

Deno.test("callTool() removes known secret values from everything it returns", async () => {
  const { deps } = await setup((_t, plan) => ({
    ok: true,
    durationMs: 1,
    result: {
      kind: "exec",
      commands: plan.kind === "exec"
        ? plan.commands.map((argv) => ({ ...UNAME_OK(argv), stdout: `${SECRET} 6.1.0\n` }))
        : [],
    },
  }));
  const out = await callTool(deps, {
    identity: admin,
    operation: op("system_status"),
    args: { target: "local" },
  });
  assert.ok(!JSON.stringify(out.result).includes(SECRET));
  assert.ok(!out.text.includes(SECRET));
});

Deno.test("callTool() refuses to run when the audit log cannot be written", async () => {
  const { deps, executor } = await setup();
  const failing: CallDeps = {
    ...deps,
    audit: {
      append: () => Promise.reject(Object.assign(new Error("disk full"), { name: "AuditError" })),
    },
  };
  await assert.rejects(
    callTool(failing, {
      identity: admin,
      operation: op("system_status"),
      args: { target: "local" },
    }),
    /disk full/,
  );
  assert.equal(executor.calls.length, 0);
});

Deno.test("callTool() refuses an unknown target and an empty selection with a clear code", async () => {
  const { deps } = await setup();
  await assert.rejects(
    callTool(deps, { identity: admin, operation: op("system_status"), args: { target: "nope" } }),
    (e) => e instanceof CallError && e.code === "unknown_target",
  );
  await assert.rejects(
    callTool(deps, {
      identity: admin,
      operation: op("system_status"),
      args: { targets: "tag:none" },
    }),
    (e) => e instanceof CallError && e.code === "no_targets",
  );
});
