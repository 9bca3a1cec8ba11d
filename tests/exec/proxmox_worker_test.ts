/**
 * The proxmox worker under its own permissions against the contract server:
 * `net` for the targets' host:port only; without it the worker cannot reach
 * the API and says so; plans with `each` fill ids from the API's listings;
 * the node limit holds inside the worker.
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { ProxmoxTarget } from "../../src/config/targets_schema.ts";
import { ExecutorHost } from "../../src/exec/host.ts";
import type { ProxmoxPlan, ProxmoxResult } from "../../src/exec/plan.ts";
import { PROXMOX_KIND, proxmoxNetAddress } from "../../src/exec/proxmox_kind.ts";
import { NO_PERMISSIONS, type WorkerKind } from "../../src/exec/worker_kind.ts";
import { ProxmoxTestbed } from "../../scripts/testbed/proxmox.ts";

const CONTEXT = { programs: [] };

async function registryFor(bed: ProxmoxTestbed, nodes: string[] = []) {
  const yaml = [
    "targets:",
    "  - id: pve",
    "    type: proxmox",
    "    capabilities: [guest:read]",
    "    connection:",
    `      base_url: ${bed.baseUrl}`,
    `      token_id: "${bed.tokenId}"`,
    '      token_secret: "${SECRET}"',
    `      tls: { fingerprint: "${bed.fingerprint}" }`,
    `      nodes: [${nodes.join(", ")}]`,
  ].join("\n");
  return await parseTargets(yaml, "pve.yaml", {
    secrets: {
      env: (name) => name === "SECRET" ? bed.secret : undefined,
      readFile: () => Promise.reject(new Error("no files")),
    },
  });
}

const plan = (parts: Partial<ProxmoxPlan>): ProxmoxPlan => ({
  kind: "proxmox",
  requests: [],
  timeoutMs: 20_000,
  outputCapBytes: 1 << 20,
  ...parts,
});

Deno.test("PROXMOX_KIND.permissions() allows net to exactly the targets' host:port", async () => {
  await using bed = await ProxmoxTestbed.start();
  const registry = await registryFor(bed);
  const targets = registry.targets as ProxmoxTarget[];
  assert.equal(proxmoxNetAddress(targets[0]), `127.0.0.1:${bed.port}`);
  assert.deepEqual(PROXMOX_KIND.permissions(targets, CONTEXT), {
    ...NO_PERMISSIONS,
    net: [`127.0.0.1:${bed.port}`],
  });
});

Deno.test("the proxmox worker runs plans with each-guest requests and keeps to its node limit", async () => {
  await using bed = await ProxmoxTestbed.start();
  const registry = await registryFor(bed, ["pve2"]);
  const host = new ExecutorHost(registry, { kinds: [PROXMOX_KIND], context: CONTEXT });
  try {
    const target = registry.targets[0];
    const outcome = await host.run(
      target,
      plan({
        guests: { tags: ["db"] },
        requests: [{
          method: "GET",
          path: "/nodes/{node}/{type}/{vmid}/status/current",
          each: "guest",
        }],
      }),
    );
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const result = outcome.result as ProxmoxResult;
    assert.deepEqual(result.items.map((i) => i.sent), ["GET /nodes/pve2/lxc/102/status/current"]);
    const refused = await host.run(
      target,
      plan({ requests: [{ method: "GET", path: "/nodes/pve1/status" }] }),
    );
    assert.ok(!refused.ok);
    assert.equal(refused.error.code, "forbidden");
    assert.ok(!bed.seen.some((r) => r.path.startsWith("/nodes/pve1")));
    const dotted = await host.run(
      target,
      plan({ requests: [{ method: "GET", path: "/nodes/pve2/../../access/users" }] }),
    );
    assert.ok(!dotted.ok);
    assert.equal(dotted.error.code, "forbidden");
  } finally {
    host.close();
  }
});

Deno.test("without net for the API's port the proxmox worker cannot reach it and says the sandbox refused", async () => {
  await using bed = await ProxmoxTestbed.start();
  const registry = await registryFor(bed);
  const narrowed: WorkerKind<ProxmoxTarget> = {
    ...PROXMOX_KIND,
    permissions: () => ({ ...NO_PERMISSIONS, net: ["127.0.0.1:1"] }),
  };
  const host = new ExecutorHost(registry, {
    kinds: [narrowed as unknown as WorkerKind],
    context: CONTEXT,
  });
  try {
    const outcome = await host.run(
      registry.targets[0],
      plan({ requests: [{ method: "GET", path: "/version" }] }),
    );
    assert.ok(!outcome.ok);
    assert.equal(outcome.error.code, "forbidden");
    assert.match(outcome.error.message, /sandbox/);
    assert.equal(bed.seen.length, 0);
  } finally {
    host.close();
  }
});
