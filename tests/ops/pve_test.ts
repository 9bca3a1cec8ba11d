/**
 * The Proxmox VE operations as declarations: plans (what dry run shows),
 * argument allowlists, per-guest outcomes, config redaction and the LXC
 * network audit's findings, on results built by hand.
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { ProxmoxResult, PveGuest, PveItem } from "../../src/exec/plan.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { PVE_BACKUP_CREATE, PVE_BACKUP_VERIFY_STATUS } from "../../src/ops/pve_backup.ts";
import { PVE_TASK_STATUS } from "../../src/ops/pve_cluster.ts";
import { PVE_GUEST_CONFIG, PVE_GUEST_CONTROL } from "../../src/ops/pve_guest.ts";
import { PVE_LXC_NETWORK_AUDIT } from "../../src/ops/pve_lxc_audit.ts";
import { PVE_OPERATIONS } from "../../src/ops/pve_ops.ts";
import { PVE_SNAPSHOT_CREATE, PVE_SNAPSHOT_ROLLBACK } from "../../src/ops/pve_snapshot.ts";

const registry = await parseTargets(
  `targets:
  - id: pve
    type: proxmox
    capabilities: [guest:read]
    constraints: { timeout_ms: 60000 }
    connection:
      base_url: https://pve1.lan:8006/api2/json
      token_id: "tailops@pve!gw"
      token_secret: "\${PVE_SECRET}"
  - id: box
    type: local
    capabilities: [system:read]
`,
  "ops.yaml",
  { resolveSecrets: false },
);
const pve = registry.get("pve")!;

const guest = (vmid: number, type: "qemu" | "lxc", node = "pve1"): PveGuest => ({
  vmid,
  node,
  type,
  name: `g${vmid}`,
  status: "running",
  tags: [],
});

function result(items: Partial<PveItem>[], guests: PveGuest[] = []): ProxmoxResult {
  return {
    kind: "proxmox",
    guests,
    items: items.map((item) => ({
      request: 0,
      sent: "GET /x",
      status: 200,
      data: null,
      error: null,
      ...item,
    })),
  };
}

Deno.test("every pve_ operation runs on proxmox targets only and refuses others in its plan", () => {
  assert.equal(PVE_OPERATIONS.length, 14);
  for (const op of PVE_OPERATIONS) {
    assert.ok(op.name.startsWith("pve_"), op.name);
    assert.deepEqual(op.targetTypes, ["proxmox"]);
  }
  assert.throws(
    () => PVE_GUEST_CONTROL.plan({ vmid: 100, action: "stop", wait: true }, registry.get("box")!),
    (e: unknown) => e instanceof OperationError && e.code === "wrong_target",
  );
});

Deno.test("plans name the exact API requests, with placeholders filled per guest", () => {
  const plan = PVE_SNAPSHOT_CREATE.plan(
    PVE_SNAPSHOT_CREATE.input.parse({ tags: ["db"], snapname: "pre", description: "x" }),
    pve,
  );
  assert.deepEqual(plan, {
    kind: "proxmox",
    guests: { tags: ["db"] },
    requests: [{
      method: "POST",
      path: "/nodes/{node}/{type}/{vmid}/snapshot",
      params: { snapname: "pre", description: "x" },
      each: "guest",
      wait: true,
    }],
    timeoutMs: 60000,
    outputCapBytes: 1048576,
  });
  const backup = PVE_BACKUP_CREATE.plan(
    PVE_BACKUP_CREATE.input.parse({ vmid: 100, storage: "pbs", mode: "stop" }),
    pve,
  );
  assert.deepEqual(backup.kind === "proxmox" && backup.requests[0].params, {
    vmid: "{vmid}",
    storage: "pbs",
    mode: "stop",
    compress: "zstd",
  });
  const task = PVE_TASK_STATUS.plan(
    PVE_TASK_STATUS.input.parse({
      upid: "UPID:pve2:0000AAAA:0000BBBB:0000CCCC:vzdump:101:tailops@pve!gw:",
    }),
    pve,
  );
  assert.equal(
    task.kind === "proxmox" && task.requests[0].path,
    "/nodes/pve2/tasks/UPID:pve2:0000AAAA:0000BBBB:0000CCCC:vzdump:101:tailops@pve!gw:/status",
  );
});

Deno.test("guest selection takes vmid or tags, never both or neither; rollback takes one vmid", () => {
  for (
    const args of [
      { action: "stop" },
      { vmid: 100, tags: ["db"], action: "stop" },
      { vmid: 100, action: "stop", node: "a_b" },
      { vmid: 1e10, action: "stop" },
    ]
  ) {
    assert.equal(PVE_GUEST_CONTROL.input.safeParse(args).success, false, JSON.stringify(args));
  }
  assert.equal(
    PVE_SNAPSHOT_ROLLBACK.input.safeParse({ tags: ["db"], snapname: "pre" }).success,
    false,
  );
});

Deno.test("a single-guest call that failed is a failed target; a selection reports per guest", () => {
  const failed = result([{ guest: guest(100, "qemu"), error: "Permission check failed" }]);
  assert.throws(
    () => PVE_GUEST_CONTROL.parse(failed, { vmid: 100, action: "stop", wait: true }),
    /Permission check failed/,
  );
  const mixed = result([
    { guest: guest(100, "qemu"), task: { upid: "u1", status: "stopped", exitstatus: "OK" } },
    { guest: guest(101, "lxc"), task: { upid: "u2", status: "stopped", exitstatus: "boom" } },
    { guest: guest(102, "lxc"), task: { upid: "u3", status: "running", exitstatus: null } },
  ]);
  const out = PVE_GUEST_CONTROL.parse(mixed, { tags: ["db"], action: "stop", wait: true });
  assert.deepEqual(out.guests.map((g) => g.outcome), ["done", "failed", "running"]);
  assert.equal(out.failed, 1);
  assert.match(out.guests[1].error!, /boom/);
});

Deno.test("guest config hides password-like values and says which", () => {
  const out = PVE_GUEST_CONFIG.parse(
    result([{
      guest: guest(100, "qemu"),
      data: { cipassword: "x", memory: 2048, "hookscript-token": "t", name: "web" },
    }]),
    { vmid: 100 },
  );
  assert.deepEqual(out.redacted.sort(), ["cipassword", "hookscript-token"]);
  assert.equal(out.config.memory, 2048);
});

Deno.test("the LXC audit reads IPv6 and DHCP, and finds conflicts only among static addresses", () => {
  const a = guest(201, "lxc"), b = guest(202, "lxc");
  const out = PVE_LXC_NETWORK_AUDIT.parse(
    result([
      {
        guest: a,
        data: {
          unprivileged: 1,
          net0: "name=eth0,bridge=vmbr0,firewall=1,ip=dhcp,ip6=fd00::5/64",
          net1: "name=eth1,bridge=vmbr9,firewall=1,ip=dhcp,tag=30",
        },
      },
      {
        guest: b,
        data: { unprivileged: 1, net0: "name=eth0,bridge=vmbr0,firewall=1,ip6=FD00::5/64" },
      },
      { request: 1, guest: a, data: { enable: 1 } },
      { request: 1, guest: b, data: { enable: 1 } },
    ]),
    {},
  );
  assert.equal(out.containers[0].interfaces[1].vlan, 30);
  assert.deepEqual(out.findings.map((f) => `${f.code}:${f.vmids}`), ["ip_conflict:201,202"]);
});

Deno.test("backup coverage counts only backups newer than the limit", () => {
  const now = Math.floor(Date.now() / 1000);
  const out = PVE_BACKUP_VERIFY_STATUS.parse(
    result(
      [{
        storage: "pbs",
        node: "pve1",
        data: [
          { volid: "pbs:backup/vm/100/a", vmid: 100, ctime: now - 3 * 86400, size: 1 },
          { volid: "pbs:backup/ct/101/b", vmid: 101, ctime: now - 9 * 86400, size: 1 },
        ],
      }],
      [guest(100, "qemu"), guest(101, "lxc"), guest(102, "lxc")],
    ),
    { max_age_days: 7 },
  );
  assert.deepEqual(out.uncovered, [101, 102]);
  assert.equal(out.guests[1].newest_backup, "pbs:backup/ct/101/b");
});
