import assert from "node:assert/strict";
import { OperationError } from "../../src/ops/operation.ts";
import { systemStatus } from "../../src/ops/system.ts";
import { asExec, cmd, exec, has, localTarget, runPlan, sshTarget } from "./_host_helpers.ts";

const UNAME = ["uname", "-nr"];
const CAT = ["cat", "/proc/uptime", "/proc/loadavg", "/proc/meminfo"];
const DF = ["df", "-kP"];

// Captured on Debian 12 (this machine), trimmed.
const PROC_DEBIAN = `638.77 1214.86
0.02 0.06 0.02 3/85 5085
MemTotal:       24684092 kB
MemFree:        24415912 kB
MemAvailable:   24375692 kB
Buffers:             776 kB
Cached:            39584 kB
SwapTotal:        1048572 kB
SwapFree:          524286 kB
HugePages_Total:       0
`;

const DF_UBUNTU = `Filesystem     1024-blocks     Used Available Capacity Mounted on
tmpfs               812344     1876    810468       1% /run
/dev/sda2         61611820 20482196  37962176      36% /
tmpfs              4061704        0   4061704       0% /dev/shm
/dev/loop0           65536    65536         0     100% /snap/core20/2318
/dev/sda1           524252     6220    518032       2% /boot/efi
overlay           61611820 20482196  37962176      36% /var/lib/docker/overlay2/abc/merged
//nas/share      976762584 51234567 925528017       6% /mnt/nas share
`;

// busybox df -kP on Alpine inside a container: overlay is the root.
const DF_ALPINE = `Filesystem           1024-blocks    Used Available Capacity Mounted on
overlay              264212084  23831756  82559156  22% /
tmpfs                    65536         0     65536   0% /dev
shm                      65536         0     65536   0% /dev/shm
/dev/vda             264212084  23831756  82559156  22% /etc/hosts
`;

Deno.test("system_status plans uname, cat of /proc files and df, in order, without sudo", () => {
  const plan = asExec(systemStatus.plan({}, sshTarget("all")));
  assert.deepEqual(plan.commands, [UNAME, CAT, DF]);
  assert.equal(plan.mode, "all");
  assert.equal(plan.sudo, false);
  assert.equal(plan.timeoutMs, 30_000);
  for (const argv of plan.commands) assert.ok(systemStatus.programs.includes(argv[0]));
});

Deno.test("system_status refuses any argument", () => {
  assert.equal(systemStatus.input.safeParse({ verbose: true }).success, false);
  assert.equal(systemStatus.input.safeParse({}).success, true);
});

Deno.test("system_status parses Debian output and drops pseudo filesystems", () => {
  const out = systemStatus.parse(
    exec(cmd(UNAME, "web-1 6.1.0-21-amd64\n"), cmd(CAT, PROC_DEBIAN), cmd(DF, DF_UBUNTU)),
    {},
  );
  assert.equal(out.hostname, "web-1");
  assert.equal(out.kernel, "6.1.0-21-amd64");
  assert.equal(out.uptime_seconds, 638);
  assert.deepEqual(out.load, { m1: 0.02, m5: 0.06, m15: 0.02 });
  assert.equal(out.memory.total_bytes, 24684092 * 1024);
  assert.equal(out.memory.used_bytes, (24684092 - 24375692) * 1024);
  assert.equal(out.memory.swap_used_bytes, 524286 * 1024);
  assert.deepEqual(out.disks.map((d) => d.mountpoint), ["/", "/boot/efi", "/mnt/nas share"]);
  assert.deepEqual(out.disks[0], {
    filesystem: "/dev/sda2",
    size_bytes: 61611820 * 1024,
    used_bytes: 20482196 * 1024,
    avail_bytes: 37962176 * 1024,
    use_percent: 36,
    mountpoint: "/",
  });
  assert.match(systemStatus.render(out), /^web-1 \(Linux 6\.1\.0-21-amd64\)/);
});

Deno.test("system_status keeps an overlay root and estimates memory on old kernels", () => {
  const proc = "12.5 3.1\n1.50 0.75 0.25 1/20 99\nMemTotal: 1000 kB\nMemFree: 100 kB\n" +
    "Buffers: 50 kB\nCached: 250 kB\n";
  const out = systemStatus.parse(
    exec(cmd(UNAME, "alpine 5.15.0\n"), cmd(CAT, proc), cmd(DF, DF_ALPINE)),
    {},
  );
  assert.deepEqual(out.disks.map((d) => `${d.filesystem} ${d.mountpoint}`), [
    "overlay /",
    "/dev/vda /etc/hosts",
  ]);
  assert.equal(out.memory.available_bytes, 400 * 1024);
  assert.equal(out.memory.swap_total_bytes, 0);
});

Deno.test("system_status turns unexpected output into bad_output or unsupported", () => {
  const cases: [string, ReturnType<typeof exec>, string][] = [
    ["empty uname", exec(cmd(UNAME, ""), cmd(CAT, PROC_DEBIAN), cmd(DF, "")), "bad_output"],
    ["garbled proc", exec(cmd(UNAME, "a b"), cmd(CAT, "hello\n"), cmd(DF, "")), "bad_output"],
    [
      "no meminfo",
      exec(cmd(UNAME, "a b"), cmd(CAT, "1 2\n1 2 3 1/2 3\n"), cmd(DF, "")),
      "bad_output",
    ],
    [
      "no /proc",
      exec(
        cmd(UNAME, "mac 23.1.0"),
        cmd(CAT, "", { exitCode: 1, stderr: "cat: /proc/uptime: No such file or directory" }),
        cmd(DF, DF_UBUNTU),
      ),
      "unsupported",
    ],
    [
      "missing df",
      exec(cmd(UNAME, "a b"), cmd(CAT, PROC_DEBIAN), cmd(DF, "", { exitCode: 127 })),
      "program_missing",
    ],
    ["too few commands", exec(cmd(UNAME, "a b")), "bad_output"],
    [
      "wrong result kind",
      { kind: "fs_list", path: "/", entries: [], truncated: false } as never,
      "bad_output",
    ],
  ];
  for (const [name, result, code] of cases) {
    assert.throws(() => systemStatus.parse(result, {}), (e) => {
      assert.ok(e instanceof OperationError, name);
      assert.equal(e.code, code, name);
      return true;
    });
  }
});

Deno.test({
  name: "system_status parses this machine's real output",
  ignore: !has("uname") || !has("df"),
  fn: async () => {
    const out = systemStatus.parse(await runPlan(asExec(systemStatus.plan({}, localTarget()))), {});
    assert.ok(out.hostname.length > 0);
    assert.ok(out.memory.total_bytes > 0);
    assert.ok(out.disks.some((d) => d.mountpoint === "/"));
  },
});
