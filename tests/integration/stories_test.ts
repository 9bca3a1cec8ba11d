/**
 * Issue 10's user stories end to end: the official SDK client, the real
 * gateway, real sshd targets. "Find the database nodes and what is using
 * their CPU"; "refresh, upgrade and report reboot-required across staging
 * with approval". (Summarising failed SSH logins is in
 * security_events_test.ts.)
 */
import assert from "node:assert/strict";
import { runCli } from "./_gateway.ts";
import { callFleet, OBSERVE_EVERYTHING, startFleet } from "./_fleet.ts";

const CAPS = ["system:read", "system:admin"];

const POLICY = [
  ...OBSERVE_EVERYTHING,
  "  - id: staging-packages-approved",
  "    effect: approve",
  "    operations: [package_refresh, package_upgrade]",
  '    targets: ["group:staging"]',
  "rate_limits:",
  "  admin: { per_minute: 60, burst: 20 }",
  "",
].join("\n");

const call = callFleet;

Deno.test({
  name:
    "a model finds the database nodes and what uses their CPU, then updates staging with approval",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using fleet = await startFleet({
      instances: 2,
      targets: () => [
        { id: "db-01", instance: 0, tags: ["db"], groups: ["prod"], capabilities: CAPS },
        { id: "db-02", instance: 1, tags: ["db"], groups: ["prod"], capabilities: CAPS },
        { id: "stg-01", instance: 0, tags: ["app"], groups: ["staging"], capabilities: CAPS },
        { id: "stg-02", instance: 1, tags: ["app"], groups: ["staging"], capabilities: CAPS },
      ],
      policy: POLICY,
    });

    await t.step("find the database nodes and what is using their CPU", async () => {
      const found = await call(fleet, "list_targets", { targets: "tag:db", tool: "top_processes" });
      const ids = found.results.map((r) => r.target);
      assert.deepEqual(ids, ["db-01", "db-02"]);
      const top = await call(fleet, "top_processes", { targets: ids, sort: "cpu", limit: 3 });
      assert.equal(top.isError, false, top.text);
      for (const entry of top.results) {
        assert.equal(entry.status, "ok", JSON.stringify(entry));
        const processes = entry.data!.processes as { pid: number; cpu_percent: number }[];
        assert.ok(processes.length > 0 && processes.length <= 3);
      }
    });

    await t.step(
      "refresh, upgrade and report reboot-required across staging with approval",
      async () => {
        const planned = await call(fleet, "package_refresh", {
          targets: "group:staging",
          dry_run: true,
        });
        assert.deepEqual(planned.results.map((r) => r.status), ["planned", "planned"]);

        const asked = await call(fleet, "package_refresh", { targets: "group:staging" });
        assert.deepEqual(asked.results.map((r) => r.status), [
          "approval_required",
          "approval_required",
        ]);
        const id = asked.approval!.id;
        assert.match(asked.approval!.how_to_approve, /approval_id/);
        const approved = await runCli([
          "approvals",
          "approve",
          id,
          "--as",
          "bob",
          "--state-dir",
          fleet.gateway.stateDir,
        ]);
        assert.equal(approved.code, 0, approved.stderr);

        const ran = await call(fleet, "package_refresh", {
          targets: "group:staging",
          approval_id: id,
        });
        for (const entry of ran.results) {
          // The test user is not root and has no sudo rule: apt refuses, and says so plainly.
          assert.ok(
            entry.status === "ok" || entry.error?.code === "forbidden",
            JSON.stringify(entry),
          );
        }
        // The approval was for that exact call: it cannot be used again.
        const again = await call(fleet, "package_refresh", {
          targets: "group:staging",
          approval_id: id,
        });
        assert.equal(again.isError, true, again.text);
        assert.ok(again.results.every((r) => r.status !== "ok"), again.text);

        const upgrade = await call(fleet, "package_upgrade", {
          targets: "group:staging",
          all: true,
          dry_run: true,
        });
        assert.deepEqual(
          upgrade.results.map((r) => r.status),
          ["planned", "planned"],
          upgrade.text,
        );
        const neither = await call(fleet, "package_upgrade", { targets: "group:staging" });
        assert.equal(neither.isError, true);
        assert.match(neither.text, /exactly one of packages or all/);

        const reboot = await call(fleet, "reboot_required", { targets: "group:staging" });
        for (const entry of reboot.results) {
          assert.equal(entry.status, "ok", JSON.stringify(entry));
          assert.equal(typeof entry.data!.required, "boolean");
        }
        const prod = await call(fleet, "package_refresh", { target: "db-01" });
        assert.equal(prod.results[0].status, "denied");
      },
    );
  },
});
