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
    "service_list",
    "journal_logs",
    "log_search",
    "security_events",
    "listening_sockets",
    "firewall_status",
    "package_updates",
    "reboot_required",
    "read_file",
    "list_directory",
    "disk_usage",
    "tcp_check",
    "dns_lookup",
    "ping",
    "tls_check",
    "service_control",
    "process_signal",
    "package_refresh",
    "package_install",
    "package_upgrade",
    "file_write",
    "file_restore",
    "system_reboot",
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

/** Reads that may need root (logs, firewall rules), so a target's sudo list may name them. */
const LOG_READS = ["journal_logs", "log_search", "security_events", "firewall_status"];

Deno.test("every exec plan runs only the operation's declared programs, without shell syntax", () => {
  const samples: Record<string, unknown> = {
    service_status: { unit: "nginx" },
    service_control: { unit: "nginx", action: "stop" },
    journal_logs: { unit: "nginx", since: "1h", priority: "err" },
    log_search: { pattern: "Failed password; $(reboot) | `id`", unit: "ssh", since: "1d" },
    package_upgrade: { packages: ["nginx"] },
    read_file: { path: "/srv/x" },
    disk_usage: { path: "/srv" },
    package_install: { packages: ["nginx"] },
    tcp_check: { host: "db-1.internal", port: 5432 },
    dns_lookup: { host: "db-1.internal" },
    ping: { host: "10.0.0.5" },
    tls_check: { host: "db-1.internal", port: 5432 },
    process_signal: { name: "nginx" },
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
        // A search pattern is data bound to --grep=; it may hold anything printable.
        const options = argv.filter((a) => !a.startsWith("--grep="));
        assert.ok(options.every((a) => !/[;&|`$<>\n]/.test(a)), `${op.name}: ${argv.join(" ")}`);
      }
      // Reads ask for sudo only where the target's sudo list can name them (log reads).
      if (!op.mutates && !LOG_READS.includes(op.name)) {
        assert.equal(plan.sudo, false, op.name);
      }
    }
  }
});
