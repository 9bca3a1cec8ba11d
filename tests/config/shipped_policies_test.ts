/**
 * The shipped policies mean what they say: for each one, every call that
 * would take a host down or off the network is tried, on targets the policy
 * otherwise lets you change, and must be refused (never allowed, never merely
 * left to an approver).
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { decide, type Decision } from "../../src/gate/decide.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { type CompiledPolicy, compilePolicy } from "../../src/gate/policy.ts";
import { CATALOG } from "../../src/ops/catalog.ts";

const POLICY_DIR = new URL("../../policy/", import.meta.url);

async function compiled(name: string): Promise<CompiledPolicy> {
  const text = await Deno.readTextFile(new URL(name, POLICY_DIR));
  return compilePolicy(parsePolicy(text, name), CATALOG, { file: name });
}

const op = (name: string) => CATALOG.find((o) => o.name === name)!;
const root = fullIdentity("local:root", "local");
/** A host each policy lets you change: tagged homelab, in the prod group. */
const HOST = {
  id: "h",
  type: "ssh" as const,
  capabilities: ["system:read", "system:control", "system:admin", "stack:control"] as const,
  tags: ["homelab"],
  groups: ["prod"],
};
const kind = (d: Decision) => d.kind === "deny" ? `deny:${d.code}` : `${d.kind}:${d.rule}`;
// A Tuesday night in Berlin: inside production's admin window.
const NOW = new Date("2025-01-07T22:30:00Z");

/** Units whose stop, restart or start would take a host down or off the network. */
const DANGEROUS_UNITS = [
  "poweroff.target",
  "reboot.target",
  "halt.target",
  "kexec.target",
  "rescue.target",
  "emergency.target",
  "shutdown.target",
  "multi-user.target",
  "network.target",
  "network-online.target",
  "ssh",
  "ssh.service",
  "ssh.socket",
  "sshd",
  "sshd.service",
  "tailscaled",
  "tailscaled.service",
  "networking",
  "networking.service",
  "systemd-networkd",
  "systemd-networkd.service",
  "systemd-networkd.socket",
  "systemd-resolved",
  "NetworkManager",
  "NetworkManager.service",
  "wpa_supplicant",
  "dbus",
  "dbus.socket",
  "systemd-journald",
  "systemd-logind",
  "getty@tty1.service",
  "docker",
  "docker.socket",
  "containerd",
  "tailops",
  "nginx.socket",
  "nginx.target",
  "nginx.service.d",
  "nginx.timer",
  "nginx.mount",
  "-.mount",
  "nginx@x.service",
  "xnginx",
  "nginx-x.service",
];

const POLICIES = ["default.yaml", "homelab.yaml", "production.yaml"];

for (const name of POLICIES) {
  Deno.test(`policy/${name} refuses every service_control on units that would take a host down or off the network`, async () => {
    const policy = await compiled(name);
    for (const unit of DANGEROUS_UNITS) {
      for (const action of ["stop", "restart", "start", "reload"]) {
        const decision = decide(
          {
            identity: root,
            operation: op("service_control"),
            target: HOST,
            args: { unit, action },
          },
          policy,
        );
        assert.equal(decision.kind, "deny", `${name}: ${action} ${unit} gave ${kind(decision)}`);
      }
    }
  });

  Deno.test(`policy/${name} never lets journal_logs limits be stepped around by leaving lines out`, async () => {
    const policy = await compiled(name);
    const decision = decide(
      { identity: root, operation: op("journal_logs"), target: HOST, args: {}, now: NOW },
      policy,
    );
    assert.equal(decision.kind, "deny", kind(decision));
  });
}

Deno.test("policy/homelab.yaml still lets the listed application services be controlled", async () => {
  const policy = await compiled("homelab.yaml");
  for (const unit of ["nginx", "nginx.service", "jellyfin.service", "syncthing@alice.service"]) {
    const decision = decide(
      {
        identity: root,
        operation: op("service_control"),
        target: HOST,
        args: { unit, action: "restart" },
      },
      policy,
    );
    assert.equal(kind(decision), "allow:homelab-services", unit);
  }
});

Deno.test("policy/production.yaml sends allowlisted units to an approver and refuses the rest outright", async () => {
  const policy = await compiled("production.yaml");
  const ask = (unit: string) =>
    kind(
      decide({
        identity: root,
        operation: op("service_control"),
        target: HOST,
        args: { unit, action: "restart" },
        now: NOW,
      }, policy),
    );
  assert.equal(ask("nginx"), "approval_required:control-needs-approval");
  assert.equal(ask("app-billing.service"), "approval_required:control-needs-approval");
  assert.equal(ask("sshd"), "deny:param_constraint");
  assert.equal(ask("app-billing.socket"), "deny:param_constraint");
});

Deno.test("policy/homelab.yaml: container and stack stop timeouts stay optional but capped", async () => {
  const policy = await compiled("homelab.yaml");
  const engine = {
    id: "e",
    type: "docker" as const,
    capabilities: ["container:control", "stack:control"] as const,
    tags: ["homelab"],
    groups: [],
  };
  const ask = (operation: string, args: Record<string, unknown>) =>
    kind(decide({ identity: root, operation: op(operation), target: engine, args }, policy));
  assert.equal(
    ask("container_control", { container: "x", action: "stop" }),
    "allow:homelab-containers",
  );
  assert.equal(
    ask("container_control", { container: "x", action: "stop", timeout_s: 600 }),
    "deny:param_constraint",
  );
  assert.equal(ask("stack_control", { project: "media", action: "stop" }), "allow:homelab-stacks");
  assert.equal(
    ask("stack_control", { project: "media", action: "stop", timeout_s: 301 }),
    "deny:param_constraint",
  );
});

Deno.test("policy/homelab.yaml refuses compose outside its roots and with the project dir left out", async () => {
  const policy = await compiled("homelab.yaml");
  const ask = (args: Record<string, unknown>) =>
    kind(decide({ identity: root, operation: op("compose_up"), target: HOST, args }, policy));
  assert.equal(ask({ project_dir: "/opt/stacks/media", services: [] }), "allow:homelab-stacks");
  assert.equal(ask({ project_dir: "/", services: [] }), "deny:param_constraint");
  assert.equal(ask({ project_dir: "/etc/systemd", services: [] }), "deny:param_constraint");
  assert.equal(ask({ services: [] }), "deny:param_constraint");
});

/** A Proxmox VE cluster target with every guest and backup capability, tagged and grouped. */
const PVE = {
  id: "pve",
  type: "proxmox" as const,
  capabilities: [
    "guest:read",
    "guest:control",
    "guest:admin",
    "backup:read",
    "backup:control",
  ] as const,
  tags: ["homelab"],
  groups: ["prod"],
};

/** Arguments for each proxmox operation. */
const PVE_ARGS: Record<string, Record<string, unknown>> = {
  pve_cluster_status: {},
  pve_guest_list: {},
  pve_guest_status: { vmid: 100 },
  pve_guest_config: { vmid: 100 },
  pve_snapshot_list: { vmid: 100 },
  pve_backup_list: {},
  pve_backup_verify_status: { max_age_days: 7 },
  pve_task_status: { upid: "UPID:pve1:0000AAAA:0000BBBB:0000CCCC:qmstart:100:root@pam:" },
  pve_lxc_network_audit: {},
  pve_guest_control: { vmid: 100, action: "stop", wait: true },
  pve_snapshot_create: { tags: ["db"], snapname: "pre", wait: true },
  pve_backup_create: {
    vmid: 100,
    storage: "pbs",
    mode: "snapshot",
    compress: "zstd",
    wait: true,
  },
  pve_snapshot_rollback: { vmid: 100, snapname: "pre", wait: true },
  pve_snapshot_delete: { vmid: 100, snapname: "pre", wait: true },
};

const PVE_READS = [
  "pve_cluster_status",
  "pve_guest_list",
  "pve_guest_status",
  "pve_guest_config",
  "pve_snapshot_list",
  "pve_backup_list",
  "pve_backup_verify_status",
  "pve_task_status",
  "pve_lxc_network_audit",
];

function pveDecisions(policy: CompiledPolicy, now: Date): Record<string, string> {
  return Object.fromEntries(
    Object.entries(PVE_ARGS).map(([name, args]) => [
      name,
      kind(decide({ identity: root, operation: op(name), target: PVE, args, now }, policy)),
    ]),
  );
}

Deno.test("every proxmox operation is covered by the shipped-policy tables", () => {
  const pve = CATALOG.filter((o) => o.targetTypes.every((t) => t === "proxmox"))
    .map((o) => o.name);
  assert.deepEqual(pve.sort(), Object.keys(PVE_ARGS).sort());
});

Deno.test("policy/default.yaml lets proxmox reads through and refuses every proxmox change", async () => {
  const decisions = pveDecisions(await compiled("default.yaml"), NOW);
  for (const [name, decision] of Object.entries(decisions)) {
    if (PVE_READS.includes(name)) assert.equal(decision, "allow:observe-everything", name);
    else assert.match(decision, /^deny:/, name);
  }
});

Deno.test("policy/homelab.yaml allows guest control, snapshots and backups; rollback and delete wait for a confirmation", async () => {
  const decisions = pveDecisions(await compiled("homelab.yaml"), NOW);
  for (const name of PVE_READS) assert.equal(decisions[name], "allow:observe-everything", name);
  for (const name of ["pve_guest_control", "pve_snapshot_create", "pve_backup_create"]) {
    assert.equal(decisions[name], "allow:homelab-guests", name);
  }
  for (const name of ["pve_snapshot_rollback", "pve_snapshot_delete"]) {
    assert.equal(decisions[name], "approval_required:homelab-guest-admin-confirm", name);
  }
});

Deno.test("policy/production.yaml sends proxmox changes to an approver and rollback only inside a window", async () => {
  const policy = await compiled("production.yaml");
  const inWindow = pveDecisions(policy, NOW);
  for (const name of PVE_READS) assert.equal(inWindow[name], "allow:observe-everything", name);
  for (const name of ["pve_guest_control", "pve_snapshot_create", "pve_backup_create"]) {
    assert.equal(inWindow[name], "approval_required:control-needs-approval", name);
  }
  for (const name of ["pve_snapshot_rollback", "pve_snapshot_delete"]) {
    assert.equal(inWindow[name], "approval_required:admin-in-window", name);
  }
  // A Monday noon in Berlin: outside every admin window.
  const outside = pveDecisions(policy, new Date("2025-01-06T11:00:00Z"));
  assert.match(outside.pve_snapshot_rollback, /^deny:/);
  assert.equal(outside.pve_guest_control, "approval_required:control-needs-approval");
});
