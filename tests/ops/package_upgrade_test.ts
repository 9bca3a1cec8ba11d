import assert from "node:assert/strict";
import { OperationError } from "../../src/ops/operation.ts";
import { packageUpgrade, upgradeCommands } from "../../src/ops/package_upgrade.ts";
import { asExec, cmd, exec, has, localTarget, sshTarget } from "./_host_helpers.ts";

const APT_OPTS = [
  "-y",
  "-q",
  "-o",
  "Dpkg::Options::=--force-confdef",
  "-o",
  "Dpkg::Options::=--force-confold",
];

Deno.test("package_upgrade plans named packages after -- and all without operands", () => {
  const named = asExec(
    packageUpgrade.plan({ packages: ["nginx", "libssl3"] }, sshTarget(["package_upgrade"])),
  );
  assert.deepEqual(named.commands, [
    ["apt-get", ...APT_OPTS, "install", "--only-upgrade", "--", "nginx", "libssl3"],
    ["dnf", "-y", "upgrade", "--", "nginx", "libssl3"],
    ["apk", "upgrade", "--no-interactive", "--", "nginx", "libssl3"],
  ]);
  assert.equal(named.mode, "first_available");
  assert.equal(named.sudo, true);
  const all = asExec(packageUpgrade.plan({ all: true }, localTarget()));
  assert.deepEqual(all.commands, upgradeCommands(undefined));
  assert.deepEqual(all.commands[0], ["apt-get", ...APT_OPTS, "upgrade"]);
  assert.equal(all.sudo, false);
  for (const argv of [...named.commands, ...all.commands]) {
    assert.ok(packageUpgrade.programs.includes(argv[0]));
  }
  assert.equal(packageUpgrade.tier, "admin");
  assert.equal(packageUpgrade.destructive, true);
});

Deno.test("package_upgrade refuses bad package names and ambiguous requests", () => {
  const bad = [
    {},
    { packages: [] },
    { all: false },
    { packages: ["nginx"], all: true },
    { packages: ["nginx; rm -rf /"] },
    { packages: ["-oAPT::Get::AllowUnauthenticated=1"] },
    { packages: ["--allow-downgrades"] },
    { packages: ["../evil.deb"] },
    { packages: ["/tmp/evil.rpm"] },
    { packages: ["kernel*"] },
    { packages: ["nginx=1.0"] },
    { packages: Array.from({ length: 101 }, (_, i) => `p${i}`) },
    { packages: "nginx" },
    { packages: ["nginx"], yes: true },
  ];
  for (const args of bad) {
    assert.equal(
      packageUpgrade.input.safeParse(args).success,
      false,
      JSON.stringify(args).slice(0, 60),
    );
  }
  for (
    const ok of [{ all: true }, { packages: ["libstdc++6", "python3.11", "NetworkManager", "g++"] }]
  ) {
    assert.equal(packageUpgrade.input.safeParse(ok).success, true, JSON.stringify(ok));
  }
});

Deno.test("package_upgrade returns the manager's summary", () => {
  const argv = upgradeCommands(["bash"])[0];
  const stdout = "Reading package lists...\nThe following packages will be upgraded:\n  bash\n" +
    "1 upgraded, 0 newly installed, 0 to remove and 134 not upgraded.\nSetting up bash (5.2.15-2+b13) ...\n";
  const out = packageUpgrade.parse(exec(cmd(argv, stdout)), { packages: ["bash"] });
  assert.equal(out.manager, "apt");
  assert.equal(out.summary, "1 upgraded, 0 newly installed, 0 to remove and 134 not upgraded.");
  assert.deepEqual(out.requested, ["bash"]);
  assert.equal(out.output_tail.at(-1), "Setting up bash (5.2.15-2+b13) ...");
  assert.equal(packageUpgrade.render(out), `apt upgraded bash: ${out.summary}`);
  const apk = packageUpgrade.parse(
    exec(
      cmd(
        upgradeCommands(undefined)[2],
        "(1/1) Upgrading musl (1.2.4-r4 -> 1.2.4-r5)\nOK: 8 MiB in 15 packages\n",
      ),
    ),
    { all: true },
  );
  assert.equal(apk.summary, "OK: 8 MiB in 15 packages");
  assert.equal(apk.requested, "all");
});

Deno.test("package_upgrade maps failures to stable codes", () => {
  const [apt, dnf, apk] = upgradeCommands(["nope"]);
  const cases: [ReturnType<typeof exec>, string][] = [
    [exec(), "program_missing"],
    [
      exec(cmd(apt, "", { exitCode: 100, stderr: "E: Unable to locate package nope\n" })),
      "not_found",
    ],
    [
      exec(
        cmd(dnf, "", {
          exitCode: 1,
          stderr: "No match for argument: nope\nError: No packages marked for upgrade.\n",
        }),
      ),
      "not_found",
    ],
    [
      exec(
        cmd(apk, "", {
          exitCode: 1,
          stderr: "ERROR: unable to select packages:\n  nope (no such package)\n",
        }),
      ),
      "not_found",
    ],
    [
      exec(cmd(apt, "", {
        exitCode: 100,
        stderr:
          "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt)\n",
      })),
      "busy",
    ],
    [
      exec(cmd(apt, "", {
        exitCode: 100,
        stderr:
          "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n" +
          "E: Unable to acquire the dpkg frontend lock, are you root?\n",
      })),
      "forbidden",
    ],
    [
      exec(
        cmd(dnf, "", {
          exitCode: 1,
          stderr: "Error: This command has to be run with superuser privileges\n",
        }),
      ),
      "forbidden",
    ],
    [exec(cmd(apt, "", { exitCode: 1, stderr: "sudo: a password is required\n" })), "forbidden"],
    [
      exec(
        cmd(apt, "", {
          exitCode: 100,
          stderr: "E: Sub-process /usr/bin/dpkg returned an error code (1)\n",
        }),
      ),
      "failed",
    ],
  ];
  for (const [result, code] of cases) {
    assert.throws(() => packageUpgrade.parse(result, { packages: ["nope"] }), (e) => {
      assert.ok(e instanceof OperationError);
      assert.equal(e.code, code, e.message);
      return true;
    });
  }
});

Deno.test({
  name:
    "package_upgrade's apt-get argv is accepted by this machine's apt-get (simulated, no changes)",
  ignore: !has("apt-get"),
  fn: async () => {
    // -s simulates: the real argv shape (options, "--", operands) without touching the system.
    const argv = upgradeCommands(["bash"])[0];
    const simulated = [argv[0], "-s", ...argv.slice(1)];
    const out = await new Deno.Command(simulated[0], {
      args: simulated.slice(1),
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const parsed = packageUpgrade.parse(exec(cmd(argv, text)), { packages: ["bash"] });
    assert.match(parsed.summary ?? "", /upgraded, \d+ newly installed/);
  },
});
