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
