import assert from "node:assert/strict";
import { parseUnits, serviceList } from "../../src/ops/service_list.ts";
import { diskUsage } from "../../src/ops/disk_usage.ts";
import { REBOOT_FLAG, rebootRequired } from "../../src/ops/reboot_required.ts";
import { packageInstall } from "../../src/ops/package_install.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { asExec, cmd, exec, has, localTarget, runPlan, sshTarget } from "./_host_helpers.ts";

Deno.test("service_list reads plain list-units lines and counts failed units", () => {
  const out = `cron.service loaded active running Regular background program processing daemon
● nginx.service loaded failed failed A high performance web server
ssh.service loaded active running OpenBSD Secure Shell server
`;
  assert.deepEqual(parseUnits(out)[1], {
    unit: "nginx.service",
    load: "loaded",
    active: "failed",
    sub: "failed",
    description: "A high performance web server",
  });
  const parsed = serviceList.parse(exec(cmd(["systemctl"], out)), serviceList.input.parse({}));
  assert.equal(parsed.failed, 1);
  const plan = asExec(
    serviceList.plan(serviceList.input.parse({ state: "failed" }), localTarget()),
  );
  assert.equal(plan.commands[0].at(-1), "--state=failed");
  assert.equal(serviceList.input.safeParse({ state: "running; reboot" }).success, false);
});

Deno.test("disk_usage stays inside the roots and puts the path after --", () => {
  const plan = asExec(
    diskUsage.plan(diskUsage.input.parse({ path: "/srv/data" }), sshTarget("all", ["/srv"])),
  );
  assert.deepEqual(plan.commands[0], ["du", "-x", "-P", "-k", "--max-depth=1", "--", "/srv/data"]);
  assert.equal(plan.sudo, false);
  for (const path of ["/etc", "/srvx", "/"]) {
    assert.throws(
      () => diskUsage.plan(diskUsage.input.parse({ path }), localTarget(["/srv"])),
      (e) => e instanceof OperationError && e.code === "forbidden",
      path,
    );
  }
  for (
    const args of [{ path: "/srv/../etc" }, { path: "srv" }, { path: "/srv", depth: 4 }, {
      path: "-x",
    }]
  ) {
    assert.equal(diskUsage.input.safeParse(args).success, false, JSON.stringify(args));
  }
});

Deno.test({
  name: "disk_usage measures a real tree and does not follow a symlink out of the root",
  ignore: !has("du"),
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "tailops-du-" });
    try {
      await Deno.mkdir(`${root}/big`);
      await Deno.mkdir(`${root}/small`);
      await Deno.writeFile(`${root}/big/blob`, new Uint8Array(256 * 1024).fill(7));
      await Deno.writeTextFile(`${root}/small/note`, "x");
      await Deno.symlink("/usr", `${root}/escape`);
      const args = diskUsage.input.parse({ path: root, limit: 5 });
      const out = diskUsage.parse(
        await runPlan(asExec(diskUsage.plan(args, localTarget([root])))),
        args,
      );
      assert.equal(out.largest[0].path, `${root}/big`);
      assert.ok(out.largest[0].bytes >= 256 * 1024);
      // /usr would be hundreds of MB: the link is measured as a link, not followed.
      assert.ok(out.total_bytes! < 10 * 1024 * 1024, String(out.total_bytes));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("reboot_required reads needs-restarting and the flag file", () => {
  const args = rebootRequired.input.parse({});
  assert.deepEqual(
    rebootRequired.parse(exec(cmd(["needs-restarting", "-r"], "", { exitCode: 1 })), args),
    {
      required: true,
      how: "needs-restarting -r",
    },
  );
  assert.equal(
    rebootRequired.parse(
      exec(cmd(["cat", "--", REBOOT_FLAG], "*** System restart required ***\n")),
      args,
    ).required,
    true,
  );
  assert.equal(
    rebootRequired.parse(
      exec(
        cmd(["cat"], "", { exitCode: 1, stderr: `cat: ${REBOOT_FLAG}: No such file or directory` }),
      ),
      args,
    ).required,
    false,
  );
});

Deno.test({
  name: "reboot_required runs for real on this machine",
  ignore: !has("cat"),
  fn: async () => {
    const args = rebootRequired.input.parse({});
    const out = rebootRequired.parse(
      await runPlan(asExec(rebootRequired.plan(args, localTarget()))),
      args,
    );
    assert.equal(out.required, await Deno.stat(REBOOT_FLAG).then(() => true, () => false));
  },
});

Deno.test("package_install names packages after -- and refuses option-like names", () => {
  const plan = asExec(
    packageInstall.plan(
      packageInstall.input.parse({ packages: ["nginx", "curl"] }),
      sshTarget(["package_install"]),
    ),
  );
  assert.equal(plan.sudo, true);
  for (const argv of plan.commands) assert.deepEqual(argv.slice(-3), ["--", "nginx", "curl"]);
  for (const name of ["-y", "--allow-unauthenticated", "a b", "x;reboot", "nginx=1.2", "*"]) {
    assert.equal(packageInstall.input.safeParse({ packages: [name] }).success, false, name);
  }
  assert.equal(packageInstall.input.safeParse({ packages: [] }).success, false);
});
