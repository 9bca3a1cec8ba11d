/**
 * The shipped systemd unit is as hardened as the gateway's features permit:
 * systemd's own review (`systemd-analyze security --offline`) rates its
 * exposure at most 2.0, `systemd-analyze verify` finds nothing wrong, and
 * every setting left open says which feature needs it. The shell scripts in
 * deploy/ pass shellcheck.
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "../integration/_gateway.ts";

const UNIT = `${REPO_DIR}/deploy/systemd/tailops.service`;

function which(program: string): string | undefined {
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]) {
    try {
      Deno.statSync(`${dir}/${program}`);
      return `${dir}/${program}`;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

const analyze = which("systemd-analyze");
if (!analyze) {
  console.warn(
    "unit_test: systemd-analyze checks skipped: no systemd-analyze (apt-get install systemd)",
  );
}
const shellcheck = which("shellcheck");
if (!shellcheck) {
  console.warn("unit_test: shellcheck skipped: no shellcheck (apt-get install shellcheck)");
}

async function run(program: string, args: string[]) {
  const out = await new Deno.Command(program, { args, stdin: "null" }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test({
  name: "systemd-analyze security rates the unit's exposure at most 2.0",
  ignore: !analyze,
  async fn() {
    const out = await run(analyze!, ["security", "--offline=true", "--no-pager", UNIT]);
    const m = /Overall exposure level for tailops\.service: ([0-9.]+)/.exec(out.stdout);
    assert.ok(m, out.stdout + out.stderr);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}:\n${out.stdout}`);
  },
});

Deno.test({
  name: "systemd-analyze verify finds nothing wrong with the unit",
  ignore: !analyze,
  async fn() {
    // verify checks that ExecStart's program exists: give it a root holding
    // the system's units, /bin/kill and a stand-in for the installed command.
    const root = await Deno.makeTempDir({ prefix: "tailops-unit-" });
    try {
      const setup = await run("sh", [
        "-c",
        'set -e; r=$1; mkdir -p "$r/usr/local/bin" "$r/etc/systemd/system" "$r/usr/lib/systemd" "$r/bin"; ' +
        'cp -a /usr/lib/systemd/system "$r/usr/lib/systemd/"; cp /bin/kill "$r/bin/"; ' +
        'printf "#!/bin/sh\\n" >"$r/usr/local/bin/tailops"; chmod 755 "$r/usr/local/bin/tailops"; ' +
        'cp "$2" "$r/etc/systemd/system/"',
        "sh",
        root,
        UNIT,
      ]);
      assert.equal(setup.code, 0, setup.stderr);
      const out = await run(analyze!, [
        "verify",
        `--root=${root}`,
        "/etc/systemd/system/tailops.service",
      ]);
      assert.equal(out.code, 0, out.stderr);
      // Unknown keys and bad values are only warnings: there must be none.
      assert.equal(out.stderr.trim(), "", out.stderr);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("every hardening setting the unit leaves open says which feature needs it", async () => {
  const lines = (await Deno.readTextFile(UNIT)).split("\n");
  const open = [
    /^SupplementaryGroups=\S/,
    /^ProtectProc=default/,
    /^ProcSubset=all/,
    /^PrivateUsers=no/,
    /^MemoryDenyWriteExecute=no/,
    /^RestrictAddressFamilies=/,
  ];
  for (const pattern of open) {
    const at = lines.findIndex((l) => pattern.test(l));
    assert.ok(at > 0, `the unit has no ${pattern}`);
    let above = at - 1;
    while (above >= 0 && /^[A-Za-z]+=/.test(lines[above])) above--;
    assert.match(lines[above] ?? "", /^# /, `${lines[at]} has no comment saying why`);
  }
  for (const closed of ["NoNewPrivileges=yes", "CapabilityBoundingSet=", "ProtectSystem=strict"]) {
    assert.ok(lines.includes(closed), `the unit lacks ${closed}`);
  }
  assert.ok(lines.some((l) => /^User=tailops$/.test(l)), "the unit runs as root");
});

Deno.test({
  name: "the deploy scripts pass shellcheck",
  ignore: !shellcheck,
  async fn() {
    const scripts = [
      `${REPO_DIR}/deploy/install.sh`,
      `${REPO_DIR}/scripts/testbed/debian_rootfs.sh`,
    ];
    for await (const entry of Deno.readDir(`${REPO_DIR}/deploy/proxmox`)) {
      if (entry.name.endsWith(".sh")) scripts.push(`${REPO_DIR}/deploy/proxmox/${entry.name}`);
    }
    const out = await run(shellcheck!, ["--shell=bash", ...scripts]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
  },
});
