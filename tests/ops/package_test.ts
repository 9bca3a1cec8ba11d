import assert from "node:assert/strict";
import { OperationError } from "../../src/ops/operation.ts";
import { packageUpdates, parseUpdates } from "../../src/ops/package.ts";
import { asExec, cmd, exec, has, localTarget, runPlan, sshTarget } from "./_host_helpers.ts";

const APT = ["apt", "list", "--upgradable"];
const DNF = ["dnf", "-q", "check-update"];
const APK = ["apk", "list", "--upgradable"];

// Captured on this Debian 12 machine (trimmed).
const APT_OUT = `Listing...
apt/oldstable-security 2.6.2 amd64 [upgradable from: 2.6.1]
bash/oldstable 5.2.15-2+b13 amd64 [upgradable from: 5.2.15-2+b8]
ca-certificates/oldstable-security 20250419~deb12u2 all [upgradable from: 20230311+deb12u1]
`;

// dnf 4 on RHEL 9: a long name wraps onto its own line; obsoletes come last.
const DNF_OUT = `
kernel-core.x86_64                    5.14.0-427.13.1.el9_4            baseos
python3-some-really-long-package-name.noarch
                                      1.2.3-4.el9                      appstream
openssl-libs.x86_64                   1:3.0.7-27.el9                   baseos

Obsoleting Packages
grub2-tools.x86_64                    1:2.06-77.el9                    baseos
    grub2-tools.x86_64                1:2.06-70.el9                    @baseos
`;

// apk-tools 2.14 on Alpine 3.19.
const APK_OUT =
  `busybox-1.36.1-r7 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r5]
musl-1.2.4_git20230717-r5 x86_64 {musl} (MIT) [upgradable from: musl-1.2.4_git20230717-r4]
py3-cryptography-41.0.7-r0 x86_64 {py3-cryptography} (Apache-2.0 OR BSD-3-Clause) [upgradable from: py3-cryptography-41.0.6-r0]
`;

Deno.test("package_updates plans apt, dnf and apk in first_available mode", () => {
  const plan = asExec(packageUpdates.plan({}, sshTarget("all")));
  assert.deepEqual(plan.commands, [APT, DNF, APK]);
  assert.equal(plan.mode, "first_available");
  assert.equal(plan.sudo, false);
  assert.equal(packageUpdates.input.safeParse({ refresh: true }).success, false);
});

Deno.test("parseUpdates() reads apt, dnf and apk lists", () => {
  assert.deepEqual(parseUpdates("apt", APT_OUT)[1], {
    name: "bash",
    current: "5.2.15-2+b8",
    available: "5.2.15-2+b13",
  });
  assert.equal(parseUpdates("apt", APT_OUT).length, 3);
  assert.deepEqual(parseUpdates("dnf", DNF_OUT), [
    { name: "kernel-core", current: null, available: "5.14.0-427.13.1.el9_4" },
    { name: "python3-some-really-long-package-name", current: null, available: "1.2.3-4.el9" },
    { name: "openssl-libs", current: null, available: "1:3.0.7-27.el9" },
  ]);
  assert.deepEqual(parseUpdates("apk", APK_OUT), [
    { name: "busybox", current: "1.36.1-r5", available: "1.36.1-r7" },
    { name: "musl", current: "1.2.4_git20230717-r4", available: "1.2.4_git20230717-r5" },
    { name: "py3-cryptography", current: "41.0.6-r0", available: "41.0.7-r0" },
  ]);
  assert.deepEqual(parseUpdates("apt", "Listing...\n"), []);
});

Deno.test("package_updates accepts dnf's exit code 100 and names the manager", () => {
  const out = packageUpdates.parse(exec(cmd(DNF, DNF_OUT, { exitCode: 100 })), {});
  assert.equal(out.manager, "dnf");
  assert.equal(out.updates.length, 3);
  assert.deepEqual(packageUpdates.parse(exec(cmd(DNF, "")), {}), { manager: "dnf", updates: [] });
  assert.match(packageUpdates.render(out), /^3 updates pending \(dnf\): kernel-core /);
});

Deno.test("package_updates maps failures to stable codes", () => {
  const cases: [ReturnType<typeof exec>, string][] = [
    [exec(), "program_missing"],
    [exec(cmd(APT, "", { exitCode: 127 })), "program_missing"],
    [exec(cmd(APT, "", { exitCode: 100, stderr: "E: Could not open lock file\n" })), "failed"],
    [exec(cmd(APK, "", { exitCode: 100 })), "failed"],
    [exec(cmd(["yum", "check-update"], "")), "bad_output"],
  ];
  for (const [result, code] of cases) {
    assert.throws(
      () => packageUpdates.parse(result, {}),
      (e) => e instanceof OperationError && e.code === code,
    );
  }
  assert.throws(() => packageUpdates.parse(exec(), {}), {
    message: "No supported package manager was found on this host: expected apt, dnf or apk",
  });
});

Deno.test({
  name: "package_updates parses this machine's real package manager output",
  ignore: !has("apt") && !has("dnf") && !has("apk"),
  fn: async () => {
    const result = await runPlan(asExec(packageUpdates.plan({}, localTarget())));
    const out = packageUpdates.parse(result, {});
    assert.ok(["apt", "dnf", "apk"].includes(out.manager));
    assert.ok(out.updates.every((u) => u.name !== "" && u.available !== ""));
    const raw = result.commands[0].stdout;
    const expected = out.manager === "apt"
      ? raw.split("\n").filter((l) => l.includes("[upgradable from:")).length
      : out.updates.length;
    assert.equal(out.updates.length, expected);
  },
});
