import assert from "node:assert/strict";
import { HOST_OPERATIONS } from "../../src/ops/host_ops.ts";
import { localTarget, sshTarget } from "./_host_helpers.ts";

Deno.test("HOST_OPERATIONS is frozen, named uniquely and runs on local and ssh only", () => {
  assert.ok(Object.isFrozen(HOST_OPERATIONS));
  const names = HOST_OPERATIONS.map((op) => op.name);
  assert.deepEqual(names, [
    "system_status",
    "top_processes",
    "service_status",
    "journal_logs",
    "listening_sockets",
    "package_updates",
    "read_file",
    "list_directory",
    "service_control",
    "package_upgrade",
    "file_write",
    "file_restore",
  ]);
  for (const op of HOST_OPERATIONS) {
    assert.ok(Object.isFrozen(op), op.name);
    assert.deepEqual(op.targetTypes, ["local", "ssh"], op.name);
    assert.ok(op.description.length > 80, op.name);
    assert.equal(op.mutates, op.tier !== "observe", op.name);
  }
});

Deno.test("every host operation refuses unknown keys", () => {
  for (const op of HOST_OPERATIONS) {
    assert.equal(op.input.safeParse({ __proto_pollution: 1 }).success, false, op.name);
  }
});

Deno.test("every exec plan runs only the operation's declared programs, without shell syntax", () => {
  const samples: Record<string, unknown> = {
    service_status: { unit: "nginx" },
    service_control: { unit: "nginx", action: "stop" },
    journal_logs: { unit: "nginx", since: "1h", priority: "err" },
    package_upgrade: { packages: ["nginx"] },
    read_file: { path: "/srv/x" },
    list_directory: { path: "/srv" },
  };
  for (const target of [localTarget(["/srv"]), sshTarget("all", ["/srv"])]) {
    for (const op of HOST_OPERATIONS) {
      // file_write plans no program and needs write roots: tests/ops/file_write_test.ts.
      if (op.name === "file_write" || op.name === "file_restore") continue;
      const plan = op.plan(op.input.parse(samples[op.name] ?? {}), target);
      assert.equal(plan.timeoutMs, target.constraints.timeout_ms, op.name);
      if (plan.kind !== "exec") continue;
      for (const argv of plan.commands) {
        assert.ok(op.programs.includes(argv[0]), `${op.name}: ${argv[0]}`);
        assert.ok(argv.every((a) => !/[;&|`$<>\n]/.test(a)), `${op.name}: ${argv.join(" ")}`);
      }
      // Only mutating operations ever ask for sudo.
      if (!op.mutates) assert.equal(plan.sudo, false, op.name);
    }
  }
});
