/**
 * Proxmox VE targets through the real gateway process with the SDK client,
 * against the contract server (`scripts/testbed/proxmox.ts`) over TLS with
 * its certificate's fingerprint pinned: every operation, guest selectors,
 * task waiting, and attacks (wrong fingerprint, token leaks, node and vmid
 * limits, path injection in ids).
 *
 * @module
 */
import assert from "node:assert/strict";
import { ProxmoxTestbed } from "../../scripts/testbed/proxmox.ts";
import { connectHttp, readAudit, startGateway } from "./_gateway.ts";
import { call, type Called } from "./_mcp_checks.ts";
import { SecretScanner } from "../../src/audit/redact.ts";

function targets(bed: ProxmoxTestbed, extra: { fingerprint?: string; nodes?: string[] } = {}) {
  return [
    "targets:",
    "  - id: pve",
    "    type: proxmox",
    "    tags: [homelab]",
    "    capabilities: [guest:read, guest:control, guest:admin, backup:read, backup:control]",
    "    connection:",
    `      base_url: ${bed.baseUrl}`,
    `      token_id: "${bed.tokenId}"`,
    '      token_secret: "${TAILOPS_IT_PVE_SECRET}"',
    `      tls: { fingerprint: "${extra.fingerprint ?? bed.fingerprint}" }`,
    ...(extra.nodes ? [`      nodes: [${extra.nodes.join(", ")}]`] : []),
  ].join("\n");
}

const POLICY = `
version: 1
rules:
  - id: pve-read
    effect: allow
    capabilities: [guest:read, backup:read]
    targets: ["*"]
  - id: pve-change
    effect: allow
    capabilities: [guest:control, guest:admin, backup:control]
    targets: ["tag:homelab"]
    params:
      vmid: { min: 100, max: 199, optional: true }
      storage: { enum: [local, pbs], optional: true }
`;

/** The single target's entry; fails the test with the text when it is not ok. */
function ok(called: Called): Record<string, unknown> {
  assert.equal(called.results.length, 1, called.text);
  assert.equal(called.results[0].status, "ok", called.text);
  return called.results[0].data as Record<string, unknown>;
}

Deno.test("proxmox operations work through the gateway against the contract server, pinned, without leaking the token", async (t) => {
  await using bed = await ProxmoxTestbed.start();
  const env = { TAILOPS_IT_PVE_SECRET: bed.secret };
  await using gateway = await startGateway({ targets: targets(bed), policy: POLICY, env });
  const client = await connectHttp(gateway);
  const texts: string[] = [];
  const run = async (name: string, args: Record<string, unknown>) => {
    const called = await call(client, name, { target: "pve", ...args });
    texts.push(called.text, JSON.stringify(called.results));
    return called;
  };
  try {
    await t.step("tools/list shows every pve_ tool", async () => {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      for (
        const name of [
          "pve_cluster_status",
          "pve_guest_list",
          "pve_guest_status",
          "pve_guest_config",
          "pve_guest_control",
          "pve_snapshot_list",
          "pve_snapshot_create",
          "pve_snapshot_rollback",
          "pve_snapshot_delete",
          "pve_backup_list",
          "pve_backup_create",
          "pve_backup_verify_status",
          "pve_task_status",
          "pve_lxc_network_audit",
        ]
      ) assert.ok(names.includes(name), name);
    });

    await t.step("cluster status reports quorum, versions, nodes and storages", async () => {
      const data = ok(await run("pve_cluster_status", {})) as {
        cluster: { name: string; quorate: boolean };
        version: string;
        nodes: { node: string; pveversion: string }[];
        storages: unknown[];
      };
      assert.deepEqual(data.cluster, { name: "lab", quorate: true });
      assert.equal(data.version, "8.3.2");
      assert.deepEqual(data.nodes.map((n) => n.node), ["pve1", "pve2"]);
      assert.ok(data.nodes[0].pveversion.startsWith("pve-manager/8.3.2"));
      assert.equal(data.storages.length, 5);
    });

    await t.step("guest_list lists guests with tags and filters by tag", async () => {
      const all = ok(await run("pve_guest_list", {})) as { guests: { vmid: number }[] };
      assert.deepEqual(all.guests.map((g) => g.vmid), [100, 101, 102, 103]);
      const db = ok(await run("pve_guest_list", { tags: ["db"] })) as {
        guests: { vmid: number; tags: string[]; node: string }[];
      };
      assert.deepEqual(db.guests.map((g) => g.vmid), [101, 102]);
      assert.deepEqual(db.guests[1].tags, ["db", "prod"]);
    });

    await t.step(
      "guest_status and guest_config resolve the node; config secrets are redacted",
      async () => {
        const status = ok(await run("pve_guest_status", { vmid: 102 })) as {
          guests: { node: string; status: string }[];
        };
        assert.deepEqual([status.guests[0].node, status.guests[0].status], ["pve2", "stopped"]);
        const config = ok(await run("pve_guest_config", { vmid: 100 })) as {
          config: Record<string, unknown>;
          redacted: string[];
        };
        assert.equal(config.config.cipassword, "[REDACTED]");
        assert.deepEqual(config.redacted, ["cipassword"]);
        assert.equal(config.config.cores, 2);
        assert.ok(!JSON.stringify(texts).includes("cloudinitpasswordhash"));
      },
    );

    await t.step("guest_control waits for the task and the guest changes state", async () => {
      const data = ok(await run("pve_guest_control", { vmid: 102, action: "start" })) as {
        guests: { outcome: string; task: { exitstatus: string; upid: string }; request: string }[];
      };
      assert.equal(data.guests[0].outcome, "done", JSON.stringify(data));
      assert.equal(data.guests[0].task.exitstatus, "OK");
      assert.equal(data.guests[0].request, "POST /nodes/pve2/lxc/102/status/start");
      assert.equal(bed.cluster.guests.find((g) => g.vmid === 102)!.status, "running");
    });

    await t.step(
      "snapshot_create over tag:db gives per-guest results; list, rollback, delete",
      async () => {
        const created = ok(
          await run("pve_snapshot_create", {
            tags: ["db"],
            snapname: "preupgrade",
            description: "before the upgrade",
          }),
        ) as { guests: { vmid: number; outcome: string }[]; failed: number };
        assert.deepEqual(created.guests.map((g) => [g.vmid, g.outcome]), [[101, "done"], [
          102,
          "done",
        ]]);
        const list = ok(await run("pve_snapshot_list", { tags: ["db"] })) as {
          guests: { vmid: number; snapshots: { name: string }[] }[];
        };
        assert.deepEqual(list.guests[0].snapshots.map((s) => s.name), ["before", "preupgrade"]);
        assert.deepEqual(list.guests[1].snapshots.map((s) => s.name), ["preupgrade"]);
        const rolled = ok(
          await run("pve_snapshot_rollback", { vmid: 101, snapname: "preupgrade" }),
        );
        assert.equal((rolled as { failed: number }).failed, 0);
        const deleted = ok(
          await run("pve_snapshot_delete", { tags: ["db"], snapname: "preupgrade" }),
        );
        assert.equal((deleted as { failed: number }).failed, 0);
        assert.deepEqual(bed.cluster.guests.find((g) => g.vmid === 102)!.snapshots, []);
      },
    );

    await t.step(
      "a failing guest in a selection is reported per guest with the API's message",
      async () => {
        const called = await run("pve_snapshot_delete", { tags: ["db"], snapname: "before" });
        const data = ok(called) as { guests: { vmid: number; outcome: string; error: string }[] };
        assert.deepEqual(data.guests.map((g) => g.outcome), ["done", "failed"]);
        assert.match(data.guests[1].error, /snapshot 'before' does not exist/);
      },
    );

    await t.step("backups: list with age, create into a storage, coverage", async () => {
      const list = ok(await run("pve_backup_list", {})) as {
        backups: { vmid: number; storage: string; age_days: number }[];
      };
      assert.deepEqual(list.backups.map((b) => b.vmid), [100, 103, 101]);
      assert.ok(list.backups[2].age_days > 29 && list.backups[2].age_days < 31);
      const before = ok(await run("pve_backup_verify_status", { max_age_days: 7 })) as {
        uncovered: number[];
        guests: { vmid: number; verification: string | null }[];
      };
      assert.deepEqual(before.uncovered, [101, 102]);
      assert.equal(before.guests.find((g) => g.vmid === 101)!.verification, "ok");
      const created = ok(await run("pve_backup_create", { vmid: 102, storage: "pbs" }));
      assert.equal((created as { failed: number }).failed, 0);
      const seen = bed.seen.findLast((r) => r.path === "/nodes/pve2/vzdump")!;
      assert.deepEqual(seen.params, {
        vmid: "102",
        storage: "pbs",
        mode: "snapshot",
        compress: "zstd",
      });
      const after = ok(await run("pve_backup_verify_status", { max_age_days: 7 })) as {
        uncovered: number[];
      };
      assert.deepEqual(after.uncovered, [101]);
    });

    await t.step(
      "task_status reads a task started without waiting, then waits for it",
      async () => {
        const started = ok(
          await run("pve_guest_control", { vmid: 103, action: "reboot", wait: false }),
        );
        const upid = (started as { guests: { request: string }[] }).guests[0];
        const item = bed.seen.findLast((r) => r.path.endsWith("/status/reboot"))!;
        assert.equal(item.status, 200);
        const task = [...bed.cluster.tasks.values()].at(-1)!;
        assert.ok(upid);
        const waited = ok(await run("pve_task_status", { upid: task.upid, wait: true })) as {
          task: { status: string; exitstatus: string };
          log: string[];
        };
        assert.deepEqual([waited.task.status, waited.task.exitstatus], ["stopped", "OK"]);
        assert.deepEqual(waited.log, ["starting task vzreboot 103", "TASK OK"]);
      },
    );

    await t.step("waiting on tasks sends growing progress notifications", async () => {
      bed.cluster.taskReads = 3;
      const progress: { progress: number; message?: string }[] = [];
      const result = await client.callTool(
        {
          name: "pve_snapshot_create",
          arguments: { target: "pve", tags: ["db"], snapname: "progress1" },
        },
        {
          onprogress: (p: { progress: number; total?: number; message?: string }) =>
            progress.push(p),
        },
      );
      bed.cluster.taskReads = 2;
      texts.push(JSON.stringify(result));
      assert.equal(result.isError, false, JSON.stringify(result));
      const messages = progress.map((p) => p.message ?? "");
      assert.ok(
        messages.some((m) => /pve: task vzsnapshot 101 on pve1 still running/.test(m)),
        messages.join("\n"),
      );
      assert.ok(messages.includes("pve: 101 done"), messages.join("\n"));
      assert.equal(progress.at(-1)!.progress, 1);
      const values = progress.map((p) => p.progress);
      assert.ok(values.every((v, i) => i === 0 || v > values[i - 1]), values.join(" "));
    });

    await t.step(
      "lxc_network_audit flags privileged nesting, firewall off and the IP conflict",
      async () => {
        const data = ok(await run("pve_lxc_network_audit", {})) as {
          containers: { vmid: number; interfaces: { vlan: number | null; bridge: string }[] }[];
          findings: { code: string; vmids: number[] }[];
        };
        assert.deepEqual(data.containers.map((c) => c.vmid), [101, 102, 103]);
        assert.equal(data.containers[1].interfaces[0].vlan, 20);
        const codes = data.findings.map((f) => `${f.code}:${f.vmids.join(",")}`);
        for (
          const want of [
            "privileged_nesting:101",
            "ip_conflict:101,102",
            "firewall_off:101",
            "nic_firewall_off:101",
          ]
        ) {
          assert.ok(codes.includes(want), `${want} in ${codes.join(" ")}`);
        }
        assert.ok(!codes.some((c) => c.endsWith(":103")), codes.join(" "));
      },
    );

    await t.step("dry run shows the exact API request and no secret", async () => {
      const called = await run("pve_snapshot_create", {
        tags: ["db"],
        snapname: "x1",
        dry_run: true,
      });
      assert.equal(called.results[0].status, "planned", called.text);
      const plan = JSON.stringify(called.results[0]);
      assert.match(plan, /POST \/nodes\/\{node\}\/\{type\}\/\{vmid\}\/snapshot/);
      assert.match(plan, /PVEAPIToken=tailops@pve!gateway=<secret added by the executor>/);
    });

    await t.step(
      "the API saw the token on every request; no result or audit line holds it",
      async () => {
        assert.ok(bed.seen.length > 20);
        assert.ok(
          bed.seen.every((r) => r.authorization === `PVEAPIToken=${bed.tokenId}=${bed.secret}`),
        );
        const audit = await Deno.readTextFile(gateway.auditFile);
        const scanner = new SecretScanner([bed.secret]);
        for (const text of [...texts, audit, gateway.stderr()]) {
          assert.ok(!text.includes(bed.secret));
          assert.equal(scanner.scan(text), text, "the scanner finds the secret in no encoding");
        }
        const records = await readAudit(gateway.auditFile);
        assert.ok(records.some((r) => r.tool === "pve_snapshot_rollback"));
      },
    );
  } finally {
    await client.close();
  }
});
