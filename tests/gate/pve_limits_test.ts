/**
 * Policy limits on Proxmox VE arguments fail closed: vmid, node, storage and
 * guest tags, whichever way the call selects its guests.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { decide } from "../../src/gate/decide.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import { CATALOG } from "../../src/ops/catalog.ts";

const policy = compilePolicy(
  parsePolicy(
    `
version: 1
rules:
  - id: db-snapshots
    effect: allow
    operations: [pve_snapshot_create]
    targets: ["*"]
    params:
      tags: { enum: [db] }
  - id: low-vmids-on-pve1
    effect: allow
    operations: [pve_guest_control]
    targets: ["*"]
    params:
      vmid: { min: 100, max: 199 }
      node: { enum: [pve1] }
  - id: backups-to-pbs
    effect: allow
    operations: [pve_backup_create, pve_backup_list]
    targets: ["*"]
    params:
      storage: { enum: [pbs] }
`,
    "limits.yaml",
  ),
  CATALOG,
  { file: "limits.yaml" },
);
const target = {
  id: "pve",
  type: "proxmox" as const,
  capabilities: ["guest:read", "guest:control", "backup:read", "backup:control"] as const,
  tags: [],
  groups: [],
};
const root = fullIdentity("local:root", "local");
const ask = (name: string, args: Record<string, unknown>) => {
  const operation = CATALOG.find((o) => o.name === name)!;
  const d = decide({ identity: root, operation, target, args }, policy);
  return d.kind === "deny" ? `deny:${d.code}` : d.kind;
};

Deno.test("a guest-tag limit admits only those tags and refuses a call by vmid", () => {
  assert.equal(ask("pve_snapshot_create", { tags: ["db"], snapname: "s", wait: true }), "allow");
  assert.equal(
    ask("pve_snapshot_create", { tags: ["db", "web"], snapname: "s", wait: true }),
    "deny:param_constraint",
  );
  assert.equal(
    ask("pve_snapshot_create", { vmid: 100, snapname: "s", wait: true }),
    "deny:param_constraint",
  );
});

Deno.test("vmid and node limits refuse other values and calls that leave them out", () => {
  const call = (args: Record<string, unknown>) =>
    ask("pve_guest_control", { action: "stop", wait: true, ...args });
  assert.equal(call({ vmid: 150, node: "pve1" }), "allow");
  assert.equal(call({ vmid: 250, node: "pve1" }), "deny:param_constraint");
  assert.equal(call({ vmid: 150, node: "pve2" }), "deny:param_constraint");
  assert.equal(call({ vmid: 150 }), "deny:param_constraint");
  assert.equal(call({ tags: ["db"], node: "pve1" }), "deny:param_constraint");
});

Deno.test("a storage limit admits that storage and refuses listing every storage", () => {
  const backup = { vmid: 100, mode: "snapshot", compress: "zstd", wait: true };
  assert.equal(ask("pve_backup_create", { ...backup, storage: "pbs" }), "allow");
  assert.equal(ask("pve_backup_create", { ...backup, storage: "local" }), "deny:param_constraint");
  assert.equal(ask("pve_backup_list", { storage: "pbs" }), "allow");
  assert.equal(ask("pve_backup_list", {}), "deny:param_constraint");
});
