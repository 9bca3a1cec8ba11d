/**
 * The Proxmox VE helper (deploy/proxmox/tailops-lxc.sh) without a Proxmox
 * host: its settings are checked before anything runs, and `--dry-run` prints
 * the pveam/pct command lines a real run would execute. What only a real PVE
 * host exercises (pveam, pct create/start/push/exec, the container's systemd)
 * is listed in README's Deployment section.
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "../integration/_gateway.ts";

const HELPER = `${REPO_DIR}/deploy/proxmox/tailops-lxc.sh`;

async function helper(env: Record<string, string>, args: string[] = ["--dry-run"]) {
  const out = await new Deno.Command("bash", {
    args: [HELPER, ...args],
    env: { PATH: "/usr/bin:/bin", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  const stdout = text.decode(out.stdout);
  return {
    code: out.code,
    stderr: text.decode(out.stderr),
    commands: stdout.split("\n").filter((l) => l.startsWith("+ ")).map((l) => l.slice(2)),
  };
}

Deno.test("the PVE helper's dry run creates an unprivileged Debian container sized by RAM_SIZE, CPU_CORES and DISK_SIZE", async () => {
  const run = await helper({
    RAM_SIZE: "2048",
    CPU_CORES: "4",
    DISK_SIZE: "16",
    STORAGE: "local-zfs",
    CTID: "321",
    NET: "192.168.1.50/24",
    GATEWAY: "192.168.1.1",
    VLAN: "20",
  });
  assert.equal(run.code, 0, run.stderr);
  const create = run.commands.find((c) => c.startsWith("pct create "));
  assert.ok(create, run.commands.join("\n"));
  for (
    const part of [
      "pct create 321 local:vztmpl/debian-12-standard_",
      "--memory 2048",
      "--cores 4",
      "--rootfs local-zfs:16",
      "--unprivileged 1",
      "--features nesting=1",
      "--net0 name=eth0\\,bridge=vmbr0\\,ip=192.168.1.50/24\\,gw=192.168.1.1\\,tag=20",
    ]
  ) {
    assert.ok(create.includes(part), `${part} not in: ${create}`);
  }
  assert.ok(run.commands.includes("pct start 321"));
  // Online path: the source tree goes in, the installer runs inside.
  assert.ok(
    run.commands.some((c) =>
      c.startsWith("pct exec 321 -- bash /root/tailops-src/deploy/install.sh --source")
    ),
    run.commands.join("\n"),
  );
  assert.match(run.stderr, /dry run: nothing was run/);
});

Deno.test("the PVE helper's defaults are a small container: 512 MiB, 1 core, 4 GiB on local-lvm, DHCP", async () => {
  const run = await helper({});
  assert.equal(run.code, 0, run.stderr);
  const create = run.commands.find((c) => c.startsWith("pct create "))!;
  for (
    const part of ["--memory 512", "--cores 1", "--rootfs local-lvm:4", "ip=dhcp", "--onboot 1"]
  ) {
    assert.ok(create.includes(part), `${part} not in: ${create}`);
  }
  assert.match(run.stderr, /pvesh get \/cluster\/nextid/);
});

Deno.test("the PVE helper installs an offline bundle with the same commands the rootfs test runs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tailops.tar`, "");
    const run = await helper({ TAILOPS_BUNDLE: `${dir}/tailops.tar`, CTID: "150", TUN: "1" });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.commands.filter((c) =>
        c.startsWith("pct push") || c.includes(" -- tar ") || c.includes("install.sh")
      ),
      [
        `pct push 150 ${dir}/tailops.tar /root/tailops.tar`,
        "pct exec 150 -- tar -xf /root/tailops.tar -C /root tailops/app/deploy",
        "pct exec 150 -- bash /root/tailops/app/deploy/install.sh --bundle /root/tailops.tar --listen 127.0.0.1:8080",
      ],
    );
    assert.ok(
      run.commands.some((c) => c.includes("/dev/net/tun") && c.includes("/etc/pve/lxc/150.conf")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the PVE helper refuses each bad setting in one line before running anything", async () => {
  const bad: Record<string, string>[] = [
    { RAM_SIZE: "abc" },
    { RAM_SIZE: "128" },
    { CPU_CORES: "0" },
    { DISK_SIZE: "1" },
    { DISK_SIZE: "4G; reboot" },
    { CT_HOSTNAME: "-bad" },
    { NET: "10.0.0.5" },
    { NET: "dhcp", GATEWAY: "10.0.0.1" },
    { VLAN: "0" },
    { UNPRIVILEGED: "yes" },
    { CTID: "99" },
    { STORAGE: "local lvm" },
    { LISTEN: "8080" },
    { TAILOPS_BUNDLE: "/nonexistent/tailops.tar" },
  ];
  for (const env of bad) {
    const run = await helper(env);
    assert.equal(run.code, 1, JSON.stringify(env));
    assert.deepEqual(run.commands, [], JSON.stringify(env));
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], /^tailops-lxc: /);
  }
});

Deno.test("the PVE helper says in one line that it needs a Proxmox host when pct is missing", async () => {
  const run = await helper({}, []);
  assert.equal(run.code, 1);
  assert.match(run.stderr.trim(), /^tailops-lxc: (pct not found|run as root)/);
  assert.equal(run.stderr.trim().split("\n").length, 1);
});
