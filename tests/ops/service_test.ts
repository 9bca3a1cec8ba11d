import assert from "node:assert/strict";
import { OperationError } from "../../src/ops/operation.ts";
import { serviceControl, serviceStatus, SHOW_PROPERTIES, showArgv } from "../../src/ops/service.ts";
import { asExec, cmd, exec, has, localTarget, runPlan, sshTarget } from "./_host_helpers.ts";

const SHOW = ["systemctl", "show", "--no-pager", `--property=${SHOW_PROPERTIES}`, "--", "nginx"];
const NO_SYSTEMD =
  "System has not been booted with systemd as init system (PID 1). Can't operate.\n" +
  "Failed to connect to bus: Host is down\n";

// systemd 252 (Debian 12), properties printed in systemd's own order.
const RUNNING = `Id=nginx.service
Description=A high performance web server and a reverse proxy server
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
MainPID=812
ActiveEnterTimestamp=Mon 2024-05-06 10:15:01 UTC
StateChangeTimestamp=Mon 2024-05-06 10:15:01 UTC
MemoryCurrent=8454144
`;

const NOT_FOUND = `Id=nope.service
Description=nope.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
MainPID=0
ActiveEnterTimestamp=
StateChangeTimestamp=
MemoryCurrent=[not set]
`;

const NO_ACCOUNTING = RUNNING.replace(
  "MemoryCurrent=8454144",
  "MemoryCurrent=18446744073709551615",
);

Deno.test("service_status plans systemctl show with -- before the unit", () => {
  const plan = asExec(serviceStatus.plan({ unit: "nginx" }, sshTarget("all")));
  assert.deepEqual(plan.commands, [SHOW]);
  assert.deepEqual(showArgv("getty@tty1.service").slice(-2), ["--", "getty@tty1.service"]);
  assert.equal(plan.sudo, false);
});

Deno.test("service_status accepts unit names and refuses anything else", () => {
  for (
    const ok of ["nginx", "nginx.service", "getty@tty1.service", "sys-kernel-debug.mount", "a:b"]
  ) {
    assert.equal(serviceStatus.input.safeParse({ unit: ok }).success, true, ok);
  }
  const bad = [
    "nginx; rm -rf /",
    "-fooflag",
    "--property=ExecStart",
    "../etc/passwd",
    "a b",
    "nginx$(id)",
    "x\\x2d",
    "",
    "a".repeat(129),
    42,
  ];
  for (const unit of bad) {
    assert.equal(serviceStatus.input.safeParse({ unit }).success, false, String(unit));
  }
  assert.equal(serviceStatus.input.safeParse({ unit: "nginx", extra: 1 }).success, false);
  assert.equal(serviceStatus.input.safeParse({}).success, false);
});

Deno.test("service_status parses a running, a missing and an unaccounted unit", () => {
  const running = serviceStatus.parse(exec(cmd(SHOW, RUNNING)), { unit: "nginx" });
  assert.deepEqual(running, {
    unit: "nginx.service",
    description: "A high performance web server and a reverse proxy server",
    load_state: "loaded",
    active_state: "active",
    sub_state: "running",
    enabled: "enabled",
    main_pid: 812,
    since: "Mon 2024-05-06 10:15:01 UTC",
    memory_bytes: 8454144,
  });
  assert.equal(
    serviceStatus.render(running),
    "nginx.service: active (running), since Mon 2024-05-06 10:15:01 UTC, enabled, pid 812",
  );
  const missing = serviceStatus.parse(exec(cmd(SHOW, NOT_FOUND)), { unit: "nope" });
  assert.equal(missing.load_state, "not-found");
  assert.equal(missing.main_pid, null);
  assert.equal(missing.enabled, null);
  assert.equal(missing.memory_bytes, null);
  assert.equal(serviceStatus.render(missing), "nope.service: no such unit on this host");
  const noAcct = serviceStatus.parse(exec(cmd(SHOW, NO_ACCOUNTING)), { unit: "nginx" });
  assert.equal(noAcct.memory_bytes, null);
});

Deno.test("service_status maps failures to stable codes", () => {
  const cases: [ReturnType<typeof exec>, string][] = [
    [exec(cmd(SHOW, "", { exitCode: 1, stderr: NO_SYSTEMD })), "unsupported"],
    [
      exec(cmd(SHOW, "", { exitCode: 127, stderr: "bash: systemctl: command not found" })),
      "program_missing",
    ],
    [exec(cmd(SHOW, "garbage\n")), "bad_output"],
    [exec(), "bad_output"],
  ];
  for (const [result, code] of cases) {
    assert.throws(() => serviceStatus.parse(result, { unit: "nginx" }), (e) => {
      assert.ok(e instanceof OperationError);
      assert.equal(e.code, code);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  }
  assert.throws(
    () =>
      serviceStatus.parse(exec(cmd(SHOW, "", { exitCode: 1, stderr: NO_SYSTEMD })), {
        unit: "nginx",
      }),
    { message: "systemd is not running on this host" },
  );
});

Deno.test({
  name: "service_status runs for real: a parsed state, or unsupported without systemd",
  ignore: !has("systemctl"),
  fn: async () => {
    const result = await runPlan(asExec(serviceStatus.plan({ unit: "ssh" }, localTarget())));
    try {
      const out = serviceStatus.parse(result, { unit: "ssh" });
      assert.ok(out.load_state.length > 0);
    } catch (e) {
      assert.ok(e instanceof OperationError && e.code === "unsupported", String(e));
    }
  },
});

const RESTART = ["systemctl", "--no-ask-password", "restart", "--", "nginx"];

Deno.test("service_control plans the action then a show, with sudo from the target", () => {
  const args = { unit: "nginx", action: "restart" as const };
  const plan = asExec(serviceControl.plan(args, sshTarget(["service_control"])));
  assert.deepEqual(plan.commands, [RESTART, SHOW]);
  assert.equal(plan.sudo, true);
  assert.equal(asExec(serviceControl.plan(args, sshTarget(["package_upgrade"]))).sudo, false);
  assert.equal(asExec(serviceControl.plan(args, localTarget())).sudo, false);
  assert.equal(serviceControl.mutates, true);
  assert.equal(serviceControl.destructive, true);
  assert.equal(serviceControl.tier, "control");
});

Deno.test("service_control refuses unknown actions and bad units", () => {
  for (
    const bad of [
      { unit: "nginx", action: "kill" },
      { unit: "nginx", action: "enable" },
      { unit: "nginx; reboot", action: "stop" },
      { unit: "-H", action: "stop" },
      { unit: "nginx" },
      { unit: "nginx", action: "stop", force: true },
    ]
  ) {
    assert.equal(serviceControl.input.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

Deno.test("service_control reports the state after the action", () => {
  const out = serviceControl.parse(exec(cmd(RESTART, ""), cmd(SHOW, RUNNING)), {
    unit: "nginx",
    action: "restart",
  });
  assert.equal(out.state.active_state, "active");
  assert.match(serviceControl.render(out), /^restart nginx: done\nnginx.service: active/);
});

Deno.test("service_control maps systemctl failures to stable codes", () => {
  const fail = (stderr: string, exitCode = 1) =>
    exec(cmd(RESTART, "", { exitCode, stderr }), cmd(SHOW, RUNNING));
  const cases: [ReturnType<typeof exec>, string][] = [
    [fail("Failed to restart nope.service: Unit nope.service not found.\n", 5), "not_found"],
    [fail("Failed to restart nginx.service: Access denied\n"), "forbidden"],
    [fail("Failed to restart nginx.service: Interactive authentication required.\n"), "forbidden"],
    [fail("sudo: a password is required\n"), "forbidden"],
    [
      fail(
        "Failed to reload cron.service: Job type reload is not applicable for unit cron.service.\n",
      ),
      "unsupported",
    ],
    [
      fail("Job for nginx.service failed because the control process exited with error code.\n"),
      "failed",
    ],
    [fail(NO_SYSTEMD), "unsupported"],
    [exec(cmd(RESTART, "")), "bad_output"],
  ];
  for (const [result, code] of cases) {
    assert.throws(() => serviceControl.parse(result, { unit: "nginx", action: "restart" }), {
      code,
    });
  }
});
